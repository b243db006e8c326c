"""``gembench ab SUITE --base NAME --new NAME``: is NEW slower than BASE, decided on a noisy
machine by timing them side by side (duet benchmarking).

BASE and NEW are two implementations registered under two names (two plugin files, a plugin
and a built-in backend, ...). Every case of the suite on BASE gets its twin on NEW; since twins
share their setting they are in one comparison group, so each round times both (in a fresh
random order), and the figure is the per-round ratio NEW/BASE: whatever the machine does to a
round, it does to both. The suite runs ``--repeats`` times (each an ordinary results file under
``OUT/rep-I/``, which ``report`` and ``compare`` read); repeats expose run-to-run variation
that one run's rounds cannot.

Per twin pair: the estimate is the mean over repeats of the median per-round log ratio; its
standard error combines the run-to-run variance of a repeat's median (pooled over every pair:
a few repeats cannot estimate it for one pair) and each repeat's within-run error
(:func:`gembench.stats.median_se`); the 95% interval is estimate ± t × error. A pair is
**slower** when its one-sided p survives Benjamini–Hochberg at ``alpha`` over every pair, the
estimate exceeds ``threshold`` (default 2%) and the printed interval lies above no change (so
the verdict never contradicts the interval beside it).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import numpy as np
from scipy.stats import t as student_t
from tabulate import tabulate

from gembench.decide import short_label
from gembench.plan.suite import Suite
from gembench.results.records import CaseRecord
from gembench.spec.cases import Case
from gembench.stats import benjamini_hochberg, mean_of_medians, per_round, pooled_between

THRESHOLD = 0.02
ALPHA = 0.05


class AbError(Exception):
    """A mistake in the arguments of ``ab`` (unknown name, no case): one line."""


def twin_cases(suite: Suite, base: str, new: str) -> Suite:
    """The suite's cases on BASE (the suite's settings on BASE when it does not list BASE),
    each with its twin on NEW."""
    if base == new:
        raise AbError(f"--base and --new are both {base!r}; name two implementations")
    on_base = [c for c in suite.cases if c.backend == base]
    if not on_base:
        seen: dict[str, Case] = {}
        for c in suite.cases:
            twin = replace(c, backend=base)
            seen.setdefault(twin.case_id, twin)
        on_base = list(seen.values())
    cases = [x for c in on_base for x in (c, replace(c, backend=new))]
    timings = {replace(c, backend=b).case_id: suite.timing_of(c)
               for c in on_base for b in (base, new)}
    return replace(suite, cases=cases, timings=timings)


@dataclass
class Pair:
    """One case of BASE and its twin on NEW, over the repeats."""

    label: str
    estimate: float  # NEW / BASE - 1
    low: float
    high: float
    p_slower: float
    repeats: int
    rounds: int
    verdict: str = ""


def _per_round(b: CaseRecord, n: CaseRecord) -> np.ndarray | None:
    tb, tn = b.timing, n.timing
    if (tb is None or tn is None or not tb.samples or not tn.samples or tb.group_id is None
            or tb.group_id != tn.group_id or len(tb.samples) != len(tn.samples)):
        return None
    return np.log(per_round(tn.samples, tb.samples))


def pairs(runs: list[list[CaseRecord]], base: str, new: str,
          threshold: float = THRESHOLD, alpha: float = ALPHA) -> list[Pair]:
    """Every twin pair's figure and verdict over the repeats (``runs``: each repeat's cases)."""
    series: dict[str, list[np.ndarray]] = {}
    labels: dict[str, str] = {}
    for cases in runs:
        by = {c.case_id: c for c in cases if c.status == "ok"}
        for c in by.values():
            if c.backend != base:
                continue
            twin = by.get(c.case_id.replace(f"/{base}/", f"/{new}/", 1))
            got = _per_round(c, twin) if twin is not None else None
            if got is not None and got.size >= 3:
                series.setdefault(c.case_id, []).append(got)
                labels[c.case_id] = short_label(c).replace(f"{base} ", "", 1)
    out = []
    between, df = pooled_between(series)
    q = float(student_t.ppf(0.975, df)) if df else 1.96
    for cid, ss in series.items():
        est, se = mean_of_medians(ss, between)
        z = est / se if se > 0 else (math.inf if est > 0 else 0.0)
        p = float(student_t.sf(z, df)) if df else 0.5 * math.erfc(z / math.sqrt(2))
        out.append(Pair(labels[cid], math.expm1(est), math.expm1(est - q * se),
                        math.expm1(est + q * se), p, len(ss), int(sum(s.size for s in ss))))
    keep = benjamini_hochberg([p.p_slower for p in out], alpha)
    for p, k in zip(out, keep):
        if k and p.estimate > threshold and p.low > 0:
            p.verdict = "NEW SLOWER"
        elif p.high < -threshold:
            p.verdict = "new faster"
        else:
            p.verdict = "no slowdown shown"
    return out


def print_pairs(rows: list[Pair], base: str, new: str, threshold: float, alpha: float,
                file: TextIO | None = None) -> None:
    file = file or sys.stdout
    print(f"ab: NEW {new} against BASE {base}, timed side by side (per-round NEW/BASE)", file=file)
    print(f"NEW SLOWER: estimate > {threshold:.0%}, one-sided p significant at "
          f"false-discovery rate {alpha:g} (Benjamini-Hochberg) over the pairs, and the "
          "interval above 0; interval: 95% over the repeats and rounds\n", file=file)
    body = [[r.label[:56], f"{r.estimate:+.1%}", f"{r.low:+.1%} to {r.high:+.1%}",
             f"{r.repeats}x{r.rounds // max(r.repeats, 1)}", r.verdict]
            for r in sorted(rows, key=lambda r: -r.estimate)]
    print(tabulate(body, headers=["case", "NEW/BASE", "95% interval", "runs x rounds",
                                  "verdict"], disable_numparse=True), file=file)
    slower = sum(r.verdict == "NEW SLOWER" for r in rows)
    print(f"\n{len(rows)} pairs: {slower} NEW SLOWER", file=file)


def run_ab(suite: Suite, base: str, new: str, out: Path, repeats: int = 3,
           threshold: float = THRESHOLD, alpha: float = ALPHA, progress: bool = True,
           file: TextIO | None = None) -> int:
    """Run the twins ``repeats`` times, print the pairs; exit 1 when NEW is slower anywhere."""
    from gembench.backends import backend_names
    from gembench.engine.running.runner import run_suite
    from gembench.results import read

    names = backend_names()
    for what, name in (("--base", base), ("--new", new)):
        if name not in names:
            raise AbError(f"{what}: unknown implementation {name!r}; expected one of "
                          f"{', '.join(names)}")
    if repeats < 1:
        raise AbError(f"--repeats: expected a whole number >= 1, found {repeats}")
    twins = twin_cases(suite, base, new)
    runs = []
    for i in range(1, repeats + 1):
        results = run_suite(twins, out / f"rep-{i}", progress=progress)
        runs.append(read(results).cases)
    rows = pairs(runs, base, new, threshold, alpha)
    print_pairs(rows, base, new, threshold, alpha, file)
    return 1 if any(r.verdict == "NEW SLOWER" for r in rows) else 0


__all__ = ["AbError", "Pair", "pairs", "print_pairs", "run_ab", "twin_cases"]
