"""``report``, ``export``, ``merge`` and ``crosscheck``: what is done with results files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gembench.cli.common import UserError


def cmd_report(args: argparse.Namespace) -> int:
    from gembench.report.output import ReportOutputError, write_report_to
    from gembench.results import ResultsError
    from gembench.results.paths import check_out_file

    results = [Path(p) for p in args.results]
    try:
        if args.out:  # never over an input or any results file
            check_out_file(Path(args.out), results, "--out")
        if args.html:
            from gembench.report.html import write_html

            print(f"html report: {write_html(results, Path(args.html))}")
        if args.out or not args.html:
            print(f"report: {write_report_to(results, Path(args.out) if args.out else None)}")
    except (ResultsError, ReportOutputError) as exc:
        raise UserError(str(exc)) from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gembench.report.export import ExportError, write_export
    from gembench.results import ResultsError

    try:
        text = write_export([Path(p) for p in args.results], args.format,
                            Path(args.out) if args.out else None)
    except (ExportError, ResultsError) as exc:
        raise UserError(str(exc)) from None
    if args.out:
        print(f"export: {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from gembench.results.merge import MergeError, merge

    try:
        done = merge([Path(p) for p in args.results], Path(args.out), force=args.force)
    except MergeError as exc:
        raise UserError(f"merge: {exc}") from None
    for case_id, key, kept in done.duplicates:
        print(f"merge: {case_id} measured more than once on machine {key}; kept the last "
              f"(from {kept})", file=sys.stderr)
    for line in done.incomplete + ([f"{done.skipped} damaged or malformed record(s) skipped"]
                                   if done.skipped else []):
        print(f"gembench: warning: merge: {line}", file=sys.stderr)
    print(f"merged {done.runs} run(s), {done.cases} case(s) from {len(done.machines)} "
          f"machine(s) -> {done.path}" + (" (already there, unchanged)" if done.unchanged
                                          else ""))
    for key, label in done.machines.items():
        print(f"  machine {key}: {label}")
    return 0


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from gembench.crosscheck import main

    return main(args.results, args.filter, args.min_run_time, args.repeats)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("report", help="write a markdown report (and PNG plots) of results files")
    p.add_argument("results", nargs="+",
                   help="results files (results.jsonl) or run directories holding one")
    p.add_argument("--out", metavar="FILE.md",
                   help="report file (default reports/SUITE-RUNSTART.md); plots go beside it")
    p.add_argument("--html", metavar="FILE.html",
                   help="also (or, without --out, only) write one self-contained HTML page: "
                        "verdict, sortable tables, plots, history over several runs")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export results to a benchmark dashboard's format")
    p.add_argument("results", nargs="+", help="results files or run directories")
    p.add_argument("--format", required=True,
                   help="github-action-benchmark (customSmallerIsBetter), bmf (Bencher Metric "
                        "Format) or pytest-benchmark (saved-run JSON)")
    p.add_argument("--out", metavar="FILE.json", help="output file (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("merge", help="merge results files (shards, machines) into one results "
                                     "set; timings of different machines are kept apart")
    p.add_argument("results", nargs="+", help="results files or run directories")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/results.jsonl")
    p.add_argument("--force", action="store_true",
                   help="merge runs of different suites, schema versions or commits")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("crosscheck", help="time ok hot cases with gembench and with "
                                          "torch.utils.benchmark, alternately, a fresh process "
                                          "per case (no RESULTS: a small suite)")
    p.add_argument("results", nargs="?", help="results file (default: a built-in small suite)")
    p.add_argument("--filter", metavar="EXPR", help="only cases matching (as for run)")
    p.add_argument("--min-run-time", type=float, default=0.3,
                   help="torch.utils.benchmark blocked_autorange min_run_time (s) per window")
    p.add_argument("--repeats", type=int, default=6,
                   help="windows of each method per case, alternating (ABBA)")
    p.set_defaults(func=cmd_crosscheck)
