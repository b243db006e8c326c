"""“× best ReLU on this device”: a direct same-round ratio within a comparison group, else a
chain through the anchor ReLU.

Cases timed in one comparison group (the same ``timing.group_id``) share every round: the
ratio is then direct, case / best ReLU round by round. For older files (or cases of different
groups, e.g. a group re-timed after a resume) the chain below is used.

Every elementwise case is timed round by round with the anchor (torch eager ``torch.relu`` on
the same device, dtype, shape, pass and cache state), and so is every backend's ReLU. For a
case C and the best ReLU B of its setting (the ReLU case whose per-round ratio to the anchor A
has the lowest median), the ratio a user asks for is the chain

    C / B = (C / A, from C's own rounds) x (A / B, from B's own rounds)

Both factors are drift-free (each is a same-round ratio); they come from different runs of
the anchor, so they are combined as independent variables: every per-round ratio of C/A times
every per-round ratio of A/B (each reduced to 400 quantile points when there are more), and
the median and quartiles of those products are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gembench.results.records import CaseRecord, RatioStats
from gembench.stats import outer_quartiles, per_round


def _per_round(rec: CaseRecord) -> np.ndarray | None:
    """Per-round case / anchor of an elementwise record (None without both sample lists)."""
    t = rec.timing
    if t is None or t.anchor is None:
        return None
    return per_round(t.samples, t.anchor.samples)


def chain(case_over_anchor: np.ndarray, anchor_over_best: np.ndarray) -> RatioStats:
    """Quartiles of the product of two independent per-round ratio samples; ``count`` is the
    number of the case's own rounds."""
    q1, med, q3 = outer_quartiles(case_over_anchor, anchor_over_best, np.multiply)
    return RatioStats(median=med, q1=q1, q3=q3, count=int(case_over_anchor.size))


def setting(rec: CaseRecord) -> tuple[object, ...]:
    """What a case shares with the ReLUs it is compared with."""
    return (rec.context, rec.device, rec.dtype, tuple(rec.shape), rec.pass_, rec.threads,
            rec.allocator, rec.cache, rec.machine_key)


@dataclass(frozen=True)
class BestRelu:
    """“× best ReLU” of one case: the ratio, which ReLU case was the best, and whether the
    ratio is direct (same rounds) or chained through the anchor."""

    ratio: RatioStats
    best_case_id: str
    best_backend: str
    direct: bool = False


def direct(c: CaseRecord, b: CaseRecord) -> RatioStats | None:
    """Per-round ``c / b`` when both were timed in the same rounds of one group."""
    tc, tb = c.timing, b.timing
    if (tc is None or tb is None or not tc.group_id or tc.group_id != tb.group_id
            or not tc.samples or not tb.samples or len(tc.samples) != len(tb.samples)):
        return None
    return RatioStats.per_round(tc.samples, tb.samples)


def _better(c: CaseRecord, than: CaseRecord | None, per_round: dict[str, np.ndarray]) -> bool:
    """A quiet ReLU beats a busy one; then the lower median ratio to the anchor wins."""
    if than is None:
        return True
    busy_c, busy_t = bool(c.machine_busy), bool(than.machine_busy)
    if busy_c != busy_t:
        return busy_t
    return bool(np.median(per_round[c.case_id]) < np.median(per_round[than.case_id]))


def best_relu_ratios(cases: list[CaseRecord]) -> dict[str, BestRelu]:
    """case_id -> :class:`BestRelu` for every ok case with anchor samples whose setting has
    at least one ok ReLU case with anchor samples."""
    per_round = {c.case_id: r for c in cases
                 if c.status == "ok" and (r := _per_round(c)) is not None}
    best: dict[tuple[object, ...], CaseRecord] = {}
    for c in cases:
        if c.activation != "relu" or c.case_id not in per_round:
            continue
        key = setting(c)
        if c.anomalies:  # a suspect ReLU is never the baseline of the others
            continue
        if _better(c, best.get(key), per_round):
            best[key] = c
    out: dict[str, BestRelu] = {}
    for c in cases:
        b = best.get(setting(c))
        if b is None or c.case_id not in per_round:
            continue
        same = direct(c, b)
        ratio = same or chain(per_round[c.case_id], 1.0 / per_round[b.case_id])
        out[c.case_id] = BestRelu(ratio, b.case_id, b.backend, same is not None)
    return out


__all__ = ["BestRelu", "best_relu_ratios", "chain", "direct"]
