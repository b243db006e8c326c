"""The commands that answer "is NEW slower than BASE?": ``compare`` (two runs) and ``ab``
(two implementations side by side); the rules are :mod:`gembench.decide`'s and
:mod:`gembench.ab`'s."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gembench.cli.common import UserError, default_out


def cmd_compare(args: argparse.Namespace) -> int:
    from gembench.compare import CompareError, run_compare
    from gembench.results import ResultsError

    try:
        return run_compare(args.base, args.new, args.threshold, args.alpha,
                           metric=args.metric, show_all=args.all)
    except (CompareError, ResultsError) as exc:
        raise UserError(str(exc)) from None


def cmd_ab(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gembench.ab import AbError, run_ab
    from gembench.compare import CompareError, parse_threshold
    from gembench.engine.running.runner import RunError, matches
    from gembench.plan.suite import SuiteError, load_suite
    from gembench.results import ResultsError

    try:
        suite = load_suite(args.suite, quick=args.quick, device=args.device)
        suite = replace(suite, cases=[c for c in suite.cases if matches(c, args.filter)])
        out = Path(args.out) if args.out else default_out(f"{suite.name}-ab", False)
        return run_ab(suite, args.base, args.new, out, args.repeats,
                      parse_threshold(args.threshold), args.alpha,
                      progress=not args.no_progress)
    except (SuiteError, AbError, CompareError, RunError, ResultsError) as exc:
        raise UserError(str(exc)) from None


def add_parsers(sub: Any) -> None:
    """Register ``compare`` and ``ab`` on the command line's subparsers."""
    p = sub.add_parser("compare", help="compare two runs case by case; exit 1 on a regression")
    p.add_argument("base", help="BASE results file or run directory")
    p.add_argument("new", help="NEW results file or run directory")
    p.add_argument("--metric", default="anchor", choices=["anchor", "relu", "time"],
                   help="figure compared: per-round ratio to the anchor ReLU (default), to the "
                        "backend's ReLU, or raw time (carries the machine's drift)")
    p.add_argument("--threshold", default="5%",
                   help="smallest slowdown that can count as a regression (default 5%%)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false-discovery rate across the cases (Benjamini-Hochberg; "
                        "default 0.05)")
    p.add_argument("--all", action="store_true", help="list every case, not only changes")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("ab", help="is NEW slower than BASE? both timed side by side, "
                                  "several runs; exit 1 when NEW is slower")
    p.add_argument("suite", help="suite (built-in name or YAML) whose cases, on BASE, are "
                                 "compared")
    p.add_argument("--base", required=True, help="BASE implementation (backend name)")
    p.add_argument("--new", required=True, help="NEW implementation (backend name)")
    p.add_argument("--repeats", type=int, default=3, help="runs of the suite (default 3)")
    p.add_argument("--out", help="output directory (default results/SUITE-ab/TIMESTAMP)")
    p.add_argument("--filter", help="only the suite's cases matching, e.g. 'shape=1M'")
    p.add_argument("--quick", action="store_true", help="a tenth of the timing budget")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the devices")
    p.add_argument("--threshold", default="2%",
                   help="smallest slowdown that counts (default 2%%)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false-discovery rate over the pairs (default 0.05)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ab)


__all__ = ["add_parsers", "cmd_ab", "cmd_compare"]
