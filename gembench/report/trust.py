"""Which verdict figures are an answer: impossible figures and figures a busy machine spoiled are
withheld, with the reason, and the run says how busy the machine was and what to do.

A headline figure (an activation's best implementation against the fastest ReLU, or a block
against the fastest ReLU block) is **withheld** when

- it is impossible: below :data:`MIN_RATIO` of the fastest ReLU for anything but ReLU (faster
  than the cheapest activation there is), above :data:`MAX_COPY` of the copy ceiling's
  bandwidth, an activation share above 100% of its block, an interval spanning more than
  :data:`MAX_SPAN` x, or a median outside its own quartiles;
- or it was measured busy (its case, or the fastest ReLU it is divided by, had more than the
  busy threshold of other processes' CPU time during its visits). Same-round ratios cancel a
  machine's drift, but not a neighbour that takes one of the case's threads' cores: under one
  CPU hog a busy figure with a tight interval (within 10% of it) read 86% off.

``run`` exits with :data:`EXIT_BUSY` when a figure was withheld because of load (and no case
failed), so that a CI job can retry on a quieter machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: below this many times the fastest ReLU, an activation other than ReLU is impossible
MIN_RATIO = 0.5
#: above this fraction of the copy ceiling's bandwidth, a figure is impossible
MAX_COPY = 1.5
#: an interval whose ends differ by more than this factor is no answer
MAX_SPAN = 10.0
#: ``gembench run``'s exit status when the machine was too busy for some figures
EXIT_BUSY = 3


def impossible(row: Any) -> str | None:
    """Why a verdict row's figure cannot be true, or None."""
    ratio, lo, hi = row.ratio, row.lo, row.hi
    if not math.isfinite(ratio) or ratio <= 0:
        return "no finite ratio"
    if row.activation != "relu" and ratio < MIN_RATIO and not hasattr(row, "share"):
        return f"{ratio:.2f}x the fastest ReLU: faster than any activation can be"
    if math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi / lo > MAX_SPAN:
        return f"interval {lo:.3g}-{hi:.3g} spans more than {MAX_SPAN:g}x"
    if math.isfinite(lo) and math.isfinite(hi) and not lo * 0.99 <= ratio <= hi * 1.01:
        return f"median {ratio:.3g} outside its quartiles {lo:.3g}-{hi:.3g}"
    frac = getattr(row, "bandwidth_fraction", math.nan)
    if math.isfinite(frac) and frac > MAX_COPY:
        return f"{frac:.0%} of the copy ceiling's bandwidth"
    share = getattr(row, "share", math.nan)
    if math.isfinite(share) and share > 1.0:
        return f"activation share {share:.0%} of its block"
    return None


def spoiled_by_load(row: Any) -> str | None:
    """Why a busy row's figure is no answer, or None (measured quiet). Every busy figure is
    withheld: under one CPU hog on the project machine a figure whose interval was tight
    (within 10% of it) still read 86% above the quiet run's."""
    if not row.busy:
        return None
    spread = (row.hi - row.lo) / row.ratio if row.ratio > 0 else math.inf
    cores = f", {row.other_cores:.1f} other cores busy" if math.isfinite(row.other_cores) else ""
    return f"busy machine (interval {spread:.0%} of the figure{cores})"


@dataclass
class Withheld:
    """What the verdict holds back, and why."""

    figures: int = 0
    shown: int = 0
    by_load: int = 0
    impossible: int = 0
    load: float = math.nan  # median other cores busy over the busy figures

    @property
    def too_busy(self) -> bool:
        return self.by_load > 0

    def advice(self) -> list[str]:
        """One line per fact a user needs: how many figures were held back, how busy the
        machine was, how to get them."""
        if not (self.by_load or self.impossible):
            return []
        out = []
        if self.by_load:
            load = f" ({self.load:.1f} other cores busy on average)" if math.isfinite(
                self.load) else ""
            out.append(f"{self.by_load} of {self.figures} headline figures withheld: the "
                       f"machine was busy while they were timed{load}. Get them on a quieter "
                       "machine, with timing.retry_busy (re-times busy groups), or with fewer "
                       "threads per case.")
        if self.impossible:
            out.append(f"{self.impossible} headline figure(s) withheld as impossible (see the "
                       "report's anomalies).")
        return out


def judge(rows: list[Any]) -> Withheld:
    """Set ``withheld`` on every verdict row; return the count and the load."""
    out = Withheld(figures=len(rows))
    loads = []
    for row in rows:
        why = impossible(row)
        if why:
            out.impossible += 1
        else:
            why = spoiled_by_load(row)
            if why:
                out.by_load += 1
                if math.isfinite(row.other_cores):
                    loads.append(row.other_cores)
        row.withheld = why
        out.shown += why is None
    if loads:
        out.load = float(sorted(loads)[len(loads) // 2])
    return out


__all__ = ["EXIT_BUSY", "Withheld", "impossible", "judge", "spoiled_by_load"]
