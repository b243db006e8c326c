"""Compare two runs: ``gembench compare BASE NEW [--threshold 10%]``.

Cases are matched by ``case_id``. For each pair of successful cases the change of the median
is printed, and the change counts as a **regression** only when it is both larger than the
threshold *and* statistically significant: a one-sided Mann–Whitney U test on the raw timing
samples (``scipy.stats.mannwhitneyu``, NEW slower than BASE) must give p < alpha (0.01 by
default). A large change that the samples cannot tell from noise is reported as such but does
not fail; nor does a significant change below the threshold. Like pytest-benchmark's
``--benchmark-compare-fail``, any regression makes the command exit with status 1.

Each change also gets an interval: the Hodges–Lehmann estimate of the ratio NEW/BASE (the
median of every pairwise ratio of a NEW sample to a BASE sample) with its distribution-free
95% confidence interval (the order statistics of those pairwise ratios that the Mann–Whitney
statistic's normal approximation gives), so a reader sees how large the change may be as well
as whether it is there.

Timings are only comparable on the same machine and software: a warning lists the
environment fields (CPU model, core counts, torch version, GPU) in which the runs differ.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from scipy.stats import mannwhitneyu
from tabulate import tabulate

from gembench.report.fmt import fmt_time
from gembench.report.runs import load_typed
from gembench.results import CaseRecord, RunRecord
from gembench.results.records import Stats

#: default significance level of the Mann–Whitney U test.
ALPHA = 0.01
#: default relative change of the median below which nothing is a regression.
THRESHOLD = 0.10
#: fewest samples per side for the test to be run at all.
MIN_SAMPLES = 3
#: confidence of the Hodges–Lehmann interval.
CONFIDENCE = 0.95
#: most samples per side used for the pairwise ratios (evenly spaced quantiles beyond).
_MAX_PAIR_SAMPLES = 400


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


@dataclass
class Change:
    """One case present and successful in both runs."""

    case_id: str
    base_median: float
    new_median: float
    change: float  # new / base - 1
    p_slower: float | None  # one-sided p of NEW slower than BASE (None: too few samples)
    p_faster: float | None
    n_base: int
    n_new: int
    verdict: str = ""
    #: Hodges–Lehmann change (ratio - 1) and its confidence interval; NaN with too few samples.
    hl_change: float = math.nan
    low: float = math.nan
    high: float = math.nan


@dataclass
class Comparison:
    changes: list[Change] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    status_changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    env_differences: list[str] = field(default_factory=list)
    threshold: float = THRESHOLD
    alpha: float = ALPHA

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "REGRESSION"]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "faster"]


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


def _samples(timing: Stats) -> np.ndarray:
    return np.asarray(timing.samples or [], dtype=np.float64)


def hodges_lehmann(base: np.ndarray, new: np.ndarray, confidence: float = CONFIDENCE
                   ) -> tuple[float, float, float]:
    """Hodges–Lehmann change of NEW over BASE as ``(estimate, low, high)``, each a relative
    change (ratio - 1): the median of log(new_j) - log(base_i) over every pair, and the
    distribution-free interval from the k-th smallest and largest of those differences."""
    from scipy.stats import norm

    x, y = np.log(_points(base)), np.log(_points(new))
    if x.size < MIN_SAMPLES or y.size < MIN_SAMPLES:
        return math.nan, math.nan, math.nan
    d = np.sort(np.subtract.outer(y, x).ravel())
    n, m = x.size, y.size
    z = float(norm.ppf(0.5 + confidence / 2))
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(k, 0), d.size - 1)
    est = float(np.median(d))
    return math.expm1(est), math.expm1(float(d[k])), math.expm1(float(d[d.size - 1 - k]))


def _points(samples: np.ndarray) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    a = a[np.isfinite(a) & (a > 0)]
    if a.size <= _MAX_PAIR_SAMPLES:
        return a
    return np.quantile(a, np.linspace(0.0, 1.0, _MAX_PAIR_SAMPLES))


def classify(change: Change, threshold: float, alpha: float) -> str:
    """REGRESSION / faster, or why not: the threshold and the test must both agree."""
    if change.p_slower is None:
        if abs(change.change) > threshold:
            return "untested (too few samples)"
        return "within threshold"
    if change.change > threshold:
        return "REGRESSION" if change.p_slower < alpha else "slower, not significant"
    if change.change < -threshold:
        return "faster" if change.p_faster is not None and change.p_faster < alpha \
            else "faster, not significant"
    return "within threshold"


def compare_cases(base_cases: list[CaseRecord], new_cases: list[CaseRecord],
                  threshold: float = THRESHOLD, alpha: float = ALPHA) -> Comparison:
    """Match cases by id and classify the change of each median."""
    base = {c.case_id: c for c in base_cases}
    new = {c.case_id: c for c in new_cases}
    out = Comparison(threshold=threshold, alpha=alpha)
    out.only_base = sorted(set(base) - set(new))
    out.only_new = sorted(set(new) - set(base))
    for cid in sorted(set(base) & set(new)):
        b, n = base[cid], new[cid]
        bt, nt = b.timing, n.timing
        if b.status != "ok" or n.status != "ok" or bt is None or nt is None:
            if b.status != n.status:
                out.status_changes.append((cid, b.status, n.status, n.reason or b.reason or ""))
            continue
        bm, nm = float(bt.median), float(nt.median)
        xs, ys = _samples(bt), _samples(nt)
        p_slow = p_fast = None
        if xs.size >= MIN_SAMPLES and ys.size >= MIN_SAMPLES:
            p_slow = float(mannwhitneyu(ys, xs, alternative="greater").pvalue)
            p_fast = float(mannwhitneyu(ys, xs, alternative="less").pvalue)
        ch = Change(cid, bm, nm, nm / bm - 1.0 if bm > 0 else math.inf, p_slow, p_fast,
                    int(xs.size), int(ys.size))
        ch.verdict = classify(ch, threshold, alpha)
        ch.hl_change, ch.low, ch.high = hodges_lehmann(xs, ys)
        out.changes.append(ch)
    return out


def compare_paths(base: Path | str, new: Path | str, threshold: float = THRESHOLD,
                  alpha: float = ALPHA) -> Comparison:
    """:func:`compare_cases` on two results files or run directories."""
    _, base_run, base_cases = load_typed(base)
    _, new_run, new_cases = load_typed(new)
    out = compare_cases(base_cases, new_cases, threshold, alpha)
    out.env_differences = environment_differences(base_run, new_run)
    return out


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def fmt_interval(c: Change) -> str:
    """``"+29.8% (+27.1% to +32.6%)"``; ``"–"`` without enough samples."""
    if not math.isfinite(c.hl_change):
        return "–"
    return f"{c.hl_change:+.1%} ({c.low:+.1%} to {c.high:+.1%})"


def print_comparison(cmp: Comparison, base: str, new: str, file: TextIO | None = None,
                     err: TextIO | None = None) -> None:
    file = file or sys.stdout
    err = err or sys.stderr
    if cmp.env_differences:
        print("gembench: warning: the two runs' environments differ, timings may not be "
              "comparable: " + "; ".join(cmp.env_differences), file=err)
    print(f"compare: BASE {base}\n         NEW  {new}", file=file)
    print(f"regression: median slower by more than {cmp.threshold:.0%} and one-sided "
          f"Mann-Whitney U p < {cmp.alpha:g} on the raw samples; interval: Hodges-Lehmann "
          f"change with its {CONFIDENCE:.0%} confidence interval\n", file=file)
    rows = []
    order = sorted(cmp.changes, key=lambda c: (c.verdict != "REGRESSION", -c.change))
    for c in order:
        rows.append([c.case_id, fmt_time(c.base_median), fmt_time(c.new_median),
                     f"{c.change:+.1%}", fmt_interval(c),
                     _fmt_p(c.p_slower if c.change >= 0 else c.p_faster),
                     f"{c.n_base}/{c.n_new}", c.verdict])
    if rows:
        print(tabulate(rows, headers=["case", "base median", "new median", "change",
                                      f"HL change ({CONFIDENCE:.0%} CI)", "p",
                                      "n base/new", "verdict"], disable_numparse=True),
              file=file)
    else:
        print("no case ran successfully in both runs", file=file)
    for cid, was, now, why in cmp.status_changes:
        print(f"status changed: {cid}: {was} -> {now}" + (f" ({why})" if why else ""),
              file=file)
    if cmp.only_base:
        print(f"{len(cmp.only_base)} case(s) only in BASE, e.g. {cmp.only_base[0]}", file=file)
    if cmp.only_new:
        print(f"{len(cmp.only_new)} case(s) only in NEW, e.g. {cmp.only_new[0]}", file=file)
    print(f"\n{len(cmp.changes)} compared: {len(cmp.regressions)} regression(s), "
          f"{len(cmp.improvements)} significantly faster", file=file)


def run_compare(base: Path | str, new: Path | str, threshold: str | float = "10%",
                alpha: float = ALPHA, file: TextIO | None = None,
                err: TextIO | None = None) -> int:
    """Compare, print, and return the exit status: 1 on any regression, else 0."""
    thr = parse_threshold(threshold)
    if not 0 < alpha < 1:
        raise CompareError(f"alpha must be between 0 and 1, got {alpha}")
    cmp = compare_paths(base, new, thr, alpha)
    print_comparison(cmp, str(base), str(new), file, err)
    return 1 if cmp.regressions else 0


__all__ = ["ALPHA", "CONFIDENCE", "THRESHOLD", "Change", "CompareError", "Comparison",
           "compare_cases", "compare_paths", "fmt_interval", "hodges_lehmann", "parse_threshold",
           "run_compare"]
