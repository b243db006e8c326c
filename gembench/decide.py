"""Is NEW slower than BASE? The figures compared and the decision rule, shared by ``compare``,
the HTML history and ``ab``.

**Figures.** Per case, a series of per-round values: ``anchor`` (default) is the case's time
over the anchor ReLU (torch eager ``torch.relu``) timed in the same round, ``relu`` its time
over its backend's ReLU in the same round, ``time`` the raw seconds. Same-round ratios cancel
what moves the whole machine between and within runs (memory bandwidth drifting by a third for
seconds, a neighbour's share of the LLC); raw times carry it. A case without the chosen
baseline (a block has no anchor) falls back to ``relu``; a baseline against itself has no
series.

**Rule.** For each case, ``d`` = the Hodges–Lehmann estimate of log(NEW) − log(BASE) (the
median over every pair of a NEW and a BASE value) and its within-run standard error from the
distribution-free interval of that estimate. Within-run samples
understate how much a figure moves between runs, so the run-to-run spread is estimated from the
comparison itself: ``sigma`` = 1.4826 × the median absolute deviation of ``d`` over the
compared cases of the same context and pass (all cases when fewer than 8; :data:`PRIOR_SIGMA`
when the whole comparison has fewer than 8), never below :data:`NOISE_FLOOR`. A case's
one-sided p-value is that of ``d / sqrt(se² + sigma²)``; the
Benjamini–Hochberg procedure keeps the false-discovery rate across all cases at ``alpha``;
a case is a **regression** when it survives that and its change exceeds the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from gembench.results.records import CaseRecord
from gembench.stats import benjamini_hochberg, hodges_lehmann, per_round, robust_sigma

METRICS = ("anchor", "relu", "time")
#: default relative change below which nothing is a regression
THRESHOLD = 0.05
#: default false-discovery rate across the cases of a comparison
ALPHA = 0.05
#: the smallest run-to-run spread assumed (log scale): ratios of one case between two quiet runs
#: on the project machine scatter by about this much
NOISE_FLOOR = 0.01
#: fewest cases of a class for its own spread estimate
MIN_CLASS = 8
#: the run-to-run spread assumed (log scale) when a comparison has fewer than MIN_CLASS cases
PRIOR_SIGMA = 0.03
#: fewest per-round values a side needs
MIN_SAMPLES = 3


def series(rec: CaseRecord, metric: str) -> tuple[str, np.ndarray] | None:
    """``(metric used, per-round values)`` of a case, or None (no samples, samples that are
    not numbers; a baseline against itself)."""
    try:
        return _series(rec, metric)
    except (TypeError, ValueError):  # a damaged record: no figure, never a traceback
        return None


def _series(rec: CaseRecord, metric: str) -> tuple[str, np.ndarray] | None:
    t = rec.timing
    if t is None or not t.samples:
        return None
    if metric == "time":
        a = np.asarray(t.samples, dtype=np.float64)
        return ("time", a) if a.size >= MIN_SAMPLES else None
    order = ("anchor", "relu") if metric == "anchor" else ("relu",)
    for name in order:
        base = t.anchor if name == "anchor" else t.relu
        if base is None or base.samples is None or base.samples == t.samples:
            continue
        got = per_round(t.samples, base.samples, positive=True, least=MIN_SAMPLES)
        if got is not None:
            return name, got
    return None


@dataclass
class Decision:
    """The rule's figures for one case (log-scale ``d``; changes as ratio − 1)."""

    metric: str
    change: float
    low: float
    high: float
    se: float
    sigma: float
    p_slower: float
    p_faster: float
    verdict: str = ""


def decide(pairs: dict[str, tuple[str, np.ndarray, np.ndarray]], classes: dict[str, str],
           threshold: float = THRESHOLD, alpha: float = ALPHA) -> dict[str, Decision]:
    """The rule over every case: ``pairs`` maps a case id to (metric, BASE series, NEW series),
    ``classes`` a case id to its class (context and pass)."""
    hl = {cid: hodges_lehmann(b, n) for cid, (_m, b, n) in pairs.items()}
    d = {cid: math.log1p(h[0]) if math.isfinite(h[0]) else
         math.log(np.median(pairs[cid][2]) / np.median(pairs[cid][1])) for cid, h in hl.items()}
    by_class: dict[str, list[float]] = {}
    for cid, v in d.items():
        by_class.setdefault(classes.get(cid, ""), []).append(v)
    everyone = robust_sigma(np.asarray(list(d.values())), NOISE_FLOOR) if len(d) >= MIN_CLASS \
        else PRIOR_SIGMA
    out: dict[str, Decision] = {}
    for cid, (metric, _b, _n) in pairs.items():
        cls = by_class[classes.get(cid, "")]
        sigma = robust_sigma(np.asarray(cls), NOISE_FLOOR) if len(cls) >= MIN_CLASS else everyone
        _est, lo, hi = hl[cid]
        se = (math.log1p(hi) - math.log1p(lo)) / (2 * 1.96) if math.isfinite(lo) else 0.0
        total = math.hypot(se, sigma)
        z = d[cid] / total
        half = 1.96 * total
        out[cid] = Decision(metric, math.expm1(d[cid]), math.expm1(d[cid] - half),
                            math.expm1(d[cid] + half), se, sigma, float(norm.sf(z)),
                            float(norm.cdf(z)))
    ids = list(out)
    slow = benjamini_hochberg([out[c].p_slower for c in ids], alpha)
    fast = benjamini_hochberg([out[c].p_faster for c in ids], alpha)
    for i, cid in enumerate(ids):
        dec = out[cid]
        if slow[i] and dec.change > threshold:
            dec.verdict = "REGRESSION"
        elif fast[i] and dec.change < -threshold:
            dec.verdict = "faster"
        elif abs(dec.change) > threshold:
            dec.verdict = "changed, within run-to-run noise"
        else:
            dec.verdict = "within threshold"
    return out


@dataclass
class Change:
    """One case present and successful in both runs (changes as ratio − 1)."""

    case_id: str
    label: str
    base_median: float  # of the compared figure
    new_median: float
    change: float
    low: float
    high: float
    p_slower: float
    p_faster: float
    metric: str
    verdict: str = ""
    sigma: float = math.nan  # run-to-run spread used (log scale)


@dataclass
class Comparison:
    changes: list[Change] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    status_changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    no_figure: list[str] = field(default_factory=list)
    env_differences: list[str] = field(default_factory=list)
    threshold: float = THRESHOLD
    alpha: float = ALPHA
    metric: str = "anchor"

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "REGRESSION"]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "faster"]

    @property
    def shift(self) -> float:
        """The median change over every case (a run-level shift, for context)."""
        return float(np.median([c.change for c in self.changes])) if self.changes else 0.0


def short_label(c: CaseRecord) -> str:
    """``backend label dtype shape pass cache`` (the context when not elementwise)."""
    shape = "x".join(map(str, c.shape)) if c.shape else ""
    ctx = "" if c.context == "elementwise" else f"{c.context} "
    return (f"{ctx}{c.backend} {c.label or c.activation} {c.dtype} {c.preset or shape} "
            f"{c.pass_.replace('forward_backward', 'fwd+bwd')} {c.cache}")


def compare_cases(base_cases: list[CaseRecord], new_cases: list[CaseRecord],
                  threshold: float = THRESHOLD, alpha: float = ALPHA,
                  metric: str = "anchor") -> Comparison:
    """Match cases by id and decide on each (:func:`decide`)."""
    base = {c.case_id: c for c in base_cases}
    new = {c.case_id: c for c in new_cases}
    out = Comparison(threshold=threshold, alpha=alpha, metric=metric)
    out.only_base = sorted(set(base) - set(new))
    out.only_new = sorted(set(new) - set(base))
    pairs: dict[str, tuple[str, Any, Any]] = {}
    for cid in sorted(set(base) & set(new)):
        b, n = base[cid], new[cid]
        if b.status != "ok" or n.status != "ok" or b.timing is None or n.timing is None:
            if b.status != n.status:
                out.status_changes.append((cid, b.status, n.status, n.reason or b.reason or ""))
            continue
        sb, sn = series(b, metric), series(n, metric)
        if sb is None or sn is None or sb[0] != sn[0]:
            out.no_figure.append(cid)
            continue
        pairs[cid] = (sb[0], sb[1], sn[1])
    classes = {cid: f"{base[cid].context}/{base[cid].pass_}" for cid in pairs}
    for cid, dec in decide(pairs, classes, threshold, alpha).items():
        _m, sb_, sn_ = pairs[cid]
        out.changes.append(Change(cid, short_label(base[cid]), float(np.median(sb_)),
                                  float(np.median(sn_)), dec.change, dec.low, dec.high,
                                  dec.p_slower, dec.p_faster, dec.metric, dec.verdict,
                                  dec.sigma))
    return out


def rule_text(threshold: float, alpha: float, metric: str) -> str:
    """The rule, in one paragraph, for the output."""
    what = {"anchor": "per-round ratio to the anchor ReLU (same rounds; cancels machine drift)",
            "relu": "per-round ratio to the backend's ReLU (same rounds; cancels machine "
                    "drift)",
            "time": "raw time (carries the machine's drift between runs: use on one quiet "
                    "machine only)"}[metric]
    return (f"figure: {what}. regression: change > {threshold:.0%} and one-sided p "
            f"(change over within-run error and the run-to-run spread of the other cases, "
            f"at least {NOISE_FLOOR:.0%}) significant at false-discovery rate {alpha:g} "
            "(Benjamini-Hochberg) across the cases; interval: 95% of that total error.")


__all__ = ["ALPHA", "METRICS", "NOISE_FLOOR", "THRESHOLD", "Change", "Comparison", "Decision",
           "compare_cases", "decide", "rule_text", "series", "short_label"]
