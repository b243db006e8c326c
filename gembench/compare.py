"""Compare two runs: ``gembench compare BASE NEW [--metric anchor|relu|time] [--threshold 5%]
[--alpha 0.05]``.

Cases are matched by ``case_id``. The figure compared and the decision rule are
:mod:`gembench.decide`'s: by default each case's per-round ratio to the anchor ReLU timed in the
same rounds (drift-free), judged against its within-run error and the run-to-run spread of the
other cases, with the false-discovery rate controlled across the cases. Any regression makes the
command exit with status 1 (as pytest-benchmark's ``--benchmark-compare-fail``).

Runs from different machines compare only ratios: ``--metric time`` is refused for them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from gembench.decide import ALPHA, METRICS, THRESHOLD, Change, Comparison, compare_cases, rule_text
from gembench.results import RunRecord, read

#: confidence of the printed interval
CONFIDENCE = 0.95


class CompareError(Exception):
    """A mistake in the arguments of ``compare`` (bad threshold, unreadable results)."""


def parse_threshold(text: str | float) -> float:
    """``"10%"``, ``"10"`` -> 0.10 (a percentage, with or without the sign)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = str(text).strip()
        try:
            value = float(raw[:-1] if raw.endswith("%") else raw)
        except ValueError:
            raise CompareError(f"--threshold: expected a percentage such as 10%, got {text!r}"
                               ) from None
    if not math.isfinite(value) or value < 0:
        raise CompareError(f"--threshold: expected a percentage >= 0, got {text!r}")
    return value / 100.0


def environment_differences(base_run: RunRecord, new_run: RunRecord) -> list[str]:
    """The environment fields that make timings of the two runs hard to compare."""

    def facts(run: RunRecord) -> dict[str, Any]:
        env = run.environment or {}
        gpu = env.get("gpu") or {}
        return {
            "CPU model": (env.get("cpu") or {}).get("brand_raw"),
            "logical cores": env.get("logical_cores"),
            "usable cores": env.get("usable_cores"),
            "torch version": (env.get("packages") or {}).get("torch"),
            "GPU": (f"{gpu.get('name')} x{gpu.get('count', 1)}" if gpu.get("name") else None),
        }

    a, b = facts(base_run), facts(new_run)
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]


def compare_paths(base: Path | str, new: Path | str, threshold: float = THRESHOLD,
                  alpha: float = ALPHA, metric: str = "anchor") -> Comparison:
    """:func:`compare_cases` on two results files or run directories."""
    _, base_run, base_cases = read(base)
    _, new_run, new_cases = read(new)
    env = environment_differences(base_run, new_run)
    if metric == "time" and any(e.startswith(("CPU model", "GPU", "logical")) for e in env):
        raise CompareError("--metric time: the two runs come from different machines ("
                           + "; ".join(env) + "); only ratios (anchor, relu) compare across "
                           "machines")
    out = compare_cases(base_cases, new_cases, threshold, alpha, metric)
    out.env_differences = env
    return out


def fmt_interval(c: Change) -> str:
    """``"+29.8% (+27.1% to +32.6%)"``."""
    if not math.isfinite(c.low):
        return f"{c.change:+.1%}"
    return f"{c.change:+.1%} ({c.low:+.1%} to {c.high:+.1%})"


def _fmt_value(c: Change) -> str:
    if c.metric == "time":
        from gembench.report.fmt import fmt_time

        return f"{fmt_time(c.base_median)} -> {fmt_time(c.new_median)}"
    return f"{c.base_median:.3g}x -> {c.new_median:.3g}x"


def print_comparison(cmp: Comparison, base: str, new: str, file: TextIO | None = None,
                     err: TextIO | None = None, show_all: bool = False) -> None:
    """The comparison in at most 120 columns: the rule, the cases that changed (every case
    with ``show_all``), the counts."""
    file, err = file or sys.stdout, err or sys.stderr
    if cmp.env_differences:
        print("gembench: warning: the two runs' environments differ: "
              + "; ".join(cmp.env_differences), file=err)
    print(f"compare: BASE {base}\n         NEW  {new}", file=file)
    print(rule_text(cmp.threshold, cmp.alpha, cmp.metric) + "\n", file=file)
    order = sorted(cmp.changes, key=lambda c: (c.verdict != "REGRESSION", -c.change))
    shown = order if show_all else [c for c in order if c.verdict != "within threshold"]
    rows = [[c.label[:52], _fmt_value(c), fmt_interval(c), c.verdict[:22]] for c in shown]
    if rows:
        print(tabulate(rows, headers=["case", f"{cmp.metric}: base -> new",
                                      f"change ({CONFIDENCE:.0%} interval)", "verdict"],
                       disable_numparse=True), file=file)
    elif not cmp.changes:
        print("no case has the figure in both runs", file=file)
    for cid, was, now, why in cmp.status_changes:
        print(f"status changed: {cid}: {was} -> {now}" + (f" ({why})" if why else "")[:200],
              file=file)
    for what, ids in (("only in BASE", cmp.only_base), ("only in NEW", cmp.only_new),
                      ("without the figure in both runs", cmp.no_figure)):
        if ids:
            print(f"{len(ids)} case(s) {what}, e.g. {ids[0]}", file=file)
    quiet = len(cmp.changes) - len(shown)
    print(f"\n{len(cmp.changes)} compared ({quiet} within threshold not listed"
          f"{'' if not quiet or show_all else '; --all lists them'}): "
          f"{len(cmp.regressions)} regression(s), {len(cmp.improvements)} faster; "
          f"median change over all cases {cmp.shift:+.1%}", file=file)


def run_compare(base: Path | str, new: Path | str, threshold: str | float = "5%",
                alpha: float = ALPHA, file: TextIO | None = None,
                err: TextIO | None = None, metric: str = "anchor",
                show_all: bool = False) -> int:
    """Compare, print, and return the exit status: 1 on any regression, else 0."""
    thr = parse_threshold(threshold)
    if not 0 < alpha < 1:
        raise CompareError(f"--alpha: expected a number between 0 and 1, found {alpha}")
    if metric not in METRICS:
        raise CompareError(f"--metric: expected one of {', '.join(METRICS)}, found "
                           f"{metric!r}")
    cmp = compare_paths(base, new, thr, alpha, metric)
    print_comparison(cmp, str(base), str(new), file, err, show_all)
    return 1 if cmp.regressions else 0


__all__ = ["CONFIDENCE", "CompareError", "compare_paths", "fmt_interval", "parse_threshold",
           "run_compare"]
