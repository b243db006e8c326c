"""Anomaly flags: what makes a measured figure suspect, recorded with the case.

Each flag is ``code: explanation``. They judge the figure users read, the per-round ratio to
the case's baseline (same-backend ReLU, else the anchor), because absolute samples on a shared
host drift and split into levels that the same-round ratio cancels. Reports name flagged cases
and never pick one as the best implementation.
"""

from __future__ import annotations

import numpy as np

from gembench.results.records import Outcome, Stats, TimingRecord
from gembench.stats import quartiles

#: below this ratio to a ReLU, a non-ReLU activation is implausible
HALF = 0.5
#: a baseline is "slower than the case" when the case's ratio to it is below this and its
#: third quartile below 1
SLOWER = 0.9
#: more than this fraction of the copy ceiling's bandwidth is implausible
ABOVE_COPY = 1.5
#: a gap between two clusters of at least this fraction of the median counts as bimodal
BIMODAL_GAP = 0.05


def _ratio_series(rec: TimingRecord) -> tuple[str, np.ndarray] | None:
    for name, base in (("ReLU", rec.relu), ("anchor ReLU", rec.anchor)):
        if (isinstance(base, Stats) and base.samples and rec.samples
                and base.samples is not rec.samples and base.samples != rec.samples):
            n = min(len(base.samples), len(rec.samples))
            return name, np.asarray(rec.samples[:n]) / np.asarray(base.samples[:n])
    return None


def bimodal(values: np.ndarray) -> bool:
    """Two clusters, each at least a fifth of the samples (and 3), separated by a gap wider
    than twice either cluster's range and than :data:`BIMODAL_GAP` of the median."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = v.size
    side = max(3, n // 5)
    if n < 2 * side:
        return False
    med = float(np.median(v))
    for k in range(side, n - side + 1):
        gap = v[k] - v[k - 1]
        spread = max(v[k - 1] - v[0], v[-1] - v[k])
        if gap > 2 * spread and gap > BIMODAL_GAP * med:
            return True
    return False


def drifted(values: np.ndarray) -> bool:
    """The medians of the first and last thirds of the rounds differ by more than the IQR of
    all of them (at least 9 rounds)."""
    n = values.size
    if n < 9:
        return False
    q1, _med, q3 = quartiles(values)
    third = n // 3
    return bool(abs(np.median(values[:third]) - np.median(values[-third:])) > q3 - q1)


def flags(activation: str, out: Outcome) -> list[str]:
    """The anomaly flags of a measured case (empty when nothing is suspect)."""
    rec = out.timing
    if rec is None:
        return []
    found = []
    relu = activation == "relu"
    r = rec.ratio_to_relu
    if not relu and r is not None and r.median < SLOWER and (r.q3 or r.median) < 1:
        found.append(f"baseline_slower: the backend's ReLU is slower than this case "
                     f"({r.median:.2f}x it); the ratio measures the baseline, not the case")
    for what, rs in (("the backend's ReLU", r), ("the anchor ReLU", rec.ratio_to_anchor)):
        if not relu and rs is not None and rs.median < HALF:
            found.append(f"below_half_relu: {rs.median:.2f}x {what}, below the plausible "
                         f"{HALF}x for anything but ReLU")
    frac = out.derived.bandwidth_fraction if out.derived is not None else None
    if frac is not None and frac > ABOVE_COPY:
        found.append(f"above_copy: {frac:.0%} of the copy ceiling's bandwidth measured in the "
                     "same rounds")
    series = _ratio_series(rec)
    if series is not None:
        name, values = series
        if bimodal(values):
            found.append(f"bimodal: the per-round ratio to the {name} falls in two clusters")
        if drifted(values):
            found.append(f"drift: the per-round ratio to the {name} moved by more than its "
                         "IQR between the first and last third of the rounds")
    return found


__all__ = ["bimodal", "drifted", "flags"]
