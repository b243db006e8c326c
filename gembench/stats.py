"""Every statistic gembench computes, from raw samples, in one place: quartiles, per-round
ratios, ratios of independent draws (chained or pairwise), the stopping rule's spread, the
Hodges–Lehmann change and its interval, robust spreads, Benjamini–Hochberg, and the one
thinning rule that bounds the work on long sample lists.

Nothing here knows a record or a case: callers pass sample lists and get numbers back. The
rules that use these (which figure is compared, when a change is a regression) live with the
commands that apply them (:mod:`gembench.decide`, :mod:`gembench.ab`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

#: above this many values, a sample list is reduced to its quantile points (bounded work).
MAX_POINTS = 400
#: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_TO_SIGMA = 1.4826
#: the standard error of a median is about sqrt(pi/2) x that of a mean, for normal data.
MEDIAN_SE = 1.2533


def quartiles(values: Any) -> tuple[float, float, float]:
    """``(q1, median, q3)`` of ``values``."""
    q1, med, q3 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return float(q1), float(med), float(q3)


def spread(values: Any) -> float:
    """IQR / median (inf when the median is not positive): the stopping rule's precision."""
    q1, med, q3 = quartiles(values)
    return (q3 - q1) / med if med > 0 else math.inf


def precise(series: Sequence[Any], target: float) -> bool:
    """The stopping rule: every series' IQR / median is at most ``target``."""
    return all(spread(s) <= target for s in series)


def per_round(num: Sequence[float] | None, den: Sequence[float] | None, *,
              positive: bool = False, least: int = 1) -> np.ndarray | None:
    """``num[i] / den[i]`` over the rounds both were timed in (None with fewer than ``least``);
    ``positive``: only rounds where both are finite and positive (damaged records)."""
    if not num or not den:
        return None
    n = min(len(num), len(den))
    a, b = np.asarray(num[:n], dtype=np.float64), np.asarray(den[:n], dtype=np.float64)
    if positive:
        ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        a, b = a[ok], b[ok]
    return a / b if a.size >= least else None


def thin(values: Any, most: int = MAX_POINTS) -> np.ndarray:
    """``values``, or its ``most`` mid-quantile points when longer (the distribution kept,
    the work bounded)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size <= most:
        return a
    return np.quantile(a, (np.arange(most) + 0.5) / most)


def outer_quartiles(a: Any, b: Any, op: Callable[[Any, Any], Any] = np.multiply
                    ) -> tuple[float, float, float]:
    """Quartiles of ``op(a_i, b_j)`` over every pair: the spread of a ratio built from two
    independent draws (a chain through the anchor: ``np.multiply``; two cases never timed in
    the same rounds: ``np.divide``)."""
    return quartiles(op.outer(thin(a), thin(b)).ravel())  # type: ignore[attr-defined]


def hodges_lehmann(base: Any, new: Any, confidence: float = 0.95,
                   least: int = 3) -> tuple[float, float, float]:
    """Hodges–Lehmann change of NEW over BASE as ``(estimate, low, high)``, each a relative
    change (ratio − 1): the median of log(new_j) − log(base_i) over every pair, and its
    distribution-free interval (order statistics of those differences, Mann–Whitney's)."""
    x, y = np.log(thin(_positive(base))), np.log(thin(_positive(new)))
    if x.size < least or y.size < least:
        return math.nan, math.nan, math.nan
    d = np.sort(np.subtract.outer(y, x).ravel())
    n, m = x.size, y.size
    z = float(norm.ppf(0.5 + confidence / 2))
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(k, 0), d.size - 1)
    return (math.expm1(float(np.median(d))), math.expm1(float(d[k])),
            math.expm1(float(d[d.size - 1 - k])))


def _positive(a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[np.isfinite(a) & (a > 0)]


def robust_sigma(d: Any, floor: float = 0.0) -> float:
    """1.4826 × the median absolute deviation (a standard deviation immune to outliers), at
    least ``floor``; ``floor`` for fewer than two values."""
    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return floor
    return max(floor, MAD_TO_SIGMA * float(np.median(np.abs(d - np.median(d)))))


def median_se(s: Any) -> float:
    """Standard error of the median of ``s`` (robust: MAD-based)."""
    s = np.asarray(s, dtype=np.float64)
    return MEDIAN_SE * robust_sigma(s) / math.sqrt(s.size)


def pooled_between(series: dict[str, list[np.ndarray]]) -> tuple[float, int]:
    """Variance of a repeat's median between repeats, pooled over every key (``(variance,
    degrees of freedom)``): a few repeats cannot estimate it for one key alone."""
    ss, df = 0.0, 0
    for reps in series.values():
        meds = np.array([np.median(s) for s in reps])
        ss += float(np.sum((meds - meds.mean()) ** 2))
        df += meds.size - 1
    return (ss / df if df else 0.0), df


def mean_of_medians(reps: list[np.ndarray], between: float) -> tuple[float, float]:
    """``(estimate, standard error)``: the mean of the repeats' medians, its error from the
    pooled between-repeat variance and each repeat's own :func:`median_se`."""
    meds = np.array([np.median(s) for s in reps])
    within = np.array([median_se(s) for s in reps])
    r = meds.size
    return float(meds.mean()), math.sqrt(between / r + float(np.mean(within**2)) / r)


def benjamini_hochberg(p: Sequence[float], alpha: float) -> np.ndarray:
    """Which of ``p`` are discoveries at false-discovery rate ``alpha``."""
    pv = np.asarray(p, dtype=np.float64)
    m = pv.size
    if not m:
        return np.zeros(0, dtype=bool)
    order = np.argsort(pv)
    passed = pv[order] <= alpha * (np.arange(1, m + 1) / m)
    keep = np.zeros(m, dtype=bool)
    if passed.any():
        keep[order[: int(np.max(np.nonzero(passed))) + 1]] = True
    return keep


__all__ = ["MAX_POINTS", "benjamini_hochberg", "hodges_lehmann", "mean_of_medians",
           "median_se", "outer_quartiles", "per_round", "pooled_between", "precise",
           "quartiles", "robust_sigma", "spread", "thin"]
