"""The answer first: what each activation costs next to the best ReLU on the device.

Per device × dtype × pass (× cache state), at the largest elementwise shape: each activation's
best implementation against the fastest ReLU of the setting (:func:`frames.best_relu`) with its
interval, its bandwidth fraction, the bytes it saves for backward and its accuracy status; then
per block preset the block time against the fastest ReLU block and the activation's share. The
GEM family comes first, with one plain sentence per variant. Busy and failed cases are named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gembench.activations.catalog import transcendental_free
from gembench.backends.registry import title as backend_title
from gembench.report.fmt import (
    fmt_pass,
    fmt_pct,
    fmt_ratio,
    fmt_ratio_spread,
    md_table,
)
from gembench.report.frames import all_frame, cost_frame, largest, pass_order
from gembench.report.tables import accuracy_frame
from gembench.report.trust import MIN_RATIO, Withheld, judge
from gembench.results import CaseRecord
from gembench.spec.contexts import context_spec

#: activations of the GEM family, listed first.
GEM_FAMILY = ("gem", "e_gem", "se_gem")
GROUP = ["machine", "device", "dtype", "cache", "pass"]
#: cache states in the order the verdict shows them.
CACHE_ORDER = ("hot", "cold", "mixed")


@dataclass(kw_only=True)
class Best:
    """An activation's best implementation in one setting, against the fastest ReLU."""

    machine: str
    device: str
    dtype: str
    cache: str
    pass_: str
    label: str
    activation: str
    backend: str
    ratio: float
    lo: float
    hi: float
    busy: bool  # the case or the fastest ReLU it is divided by was measured busy
    other_cores: float = math.nan
    #: why the figure is not an answer (busy and too spread, impossible); None: shown
    withheld: str | None = None

    @classmethod
    def fields_of(cls, r: Any) -> dict[str, Any]:
        """The shared fields from a :func:`cost_frame` row."""
        return {"machine": str(r["machine"]), "device": str(r["device"]),
                "dtype": str(r["dtype"]), "cache": str(r["cache"]), "pass_": str(r["pass"]),
                "label": str(r["label"]),
                "activation": str(r["activation"]), "backend": str(r["backend"]),
                "ratio": float(r["cross"]), "lo": float(r["cross_q1"]),
                "hi": float(r["cross_q3"]),
                "busy": bool(r["busy"]) or bool(r.get("best_busy", False)),
                "other_cores": float(r.get("other_cores", math.nan))}


@dataclass(kw_only=True)
class Row(Best):
    """Elementwise, at the largest shape: bandwidth, bytes saved, accuracy."""

    shape: str
    bandwidth_fraction: float
    saved_ratio: float
    accuracy: str


@dataclass(kw_only=True)
class BlockRow(Best):
    """Inside a block preset: the activation's share of the block."""

    context: str
    preset: str
    share: float


@dataclass
class Verdict:
    rows: list[Row] = field(default_factory=list)
    blocks: list[BlockRow] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    trust: Withheld = field(default_factory=Withheld)
    interval: str = "q1–q3 of sample-pair ratios"

    @property
    def empty(self) -> bool:
        return not self.rows and not self.blocks


def _cache_key(cache: str) -> tuple[int, str]:
    """Hot (steady state) first, then cold, then anything else."""
    return (CACHE_ORDER.index(cache) if cache in CACHE_ORDER else len(CACHE_ORDER)), cache


def family_key(activation: str, label: str) -> tuple[int, str]:
    """GEM family first, ReLU last, others by name between."""
    if activation in GEM_FAMILY:
        return 0, f"{GEM_FAMILY.index(activation)}{label}"
    return (2 if activation == "relu" else 1), label


def _accuracy(acc: pd.DataFrame, frame: pd.DataFrame, r: Any) -> str:
    hit = acc[(acc["device"] == r["device"]) & (acc["dtype"] == r["dtype"])
              & (acc["label"] == r["label"]) & (acc["backend"] == r["backend"])]
    failed = frame[(frame["status"] == "failed") & (frame["label"] == r["label"])
                   & (frame["backend"] == r["backend"]) & (frame["dtype"] == r["dtype"])]
    if len(hit) and bool(hit["over"].any()):
        return "OVER"
    mine = frame[(frame["label"] == r["label"]) & (frame["backend"] == r["backend"])
                 & (frame["dtype"] == r["dtype"])]
    if (mine["recheck_ok"] == False).any():  # noqa: E712 (None: not rechecked)
        return "recheck failed"
    if len(failed):
        return "failed"
    return "ok" if len(hit) else "–"


def _saved(costs: pd.DataFrame, r: Any) -> float:
    same = costs[(costs["device"] == r["device"]) & (costs["dtype"] == r["dtype"])
                 & (costs["label"] == r["label"]) & (costs["backend"] == r["backend"])
                 & (costs["context"] == r["context"]) & (costs["numel"] == r["numel"])
                 & costs["pass"].isin(["backward", "forward_backward"])]
    vals = same["saved_ratio"].dropna()
    return float(vals.iloc[0]) if len(vals) else math.nan


def _best_per_label(sub: pd.DataFrame) -> pd.DataFrame:
    """The row with the lowest ratio to the fastest ReLU per activation label, among the cases
    measured on a quiet machine and without anomaly flags when there are any (a busy or
    suspect case's ratio is no evidence that its implementation is the best; it is still named
    among the busy or suspect cases)."""
    sub = sub[np.isfinite(sub["cross"].astype(float))]
    odd = sub["anomalies"].fillna("") != "" if "anomalies" in sub else False
    # below half the fastest ReLU is impossible for anything but ReLU: never the answer
    odd = odd | ((sub["cross"].astype(float) < MIN_RATIO) & (sub["activation"] != "relu")
                 & (sub.get("context", "elementwise") == "elementwise"))
    rank = sub["busy"].astype(bool).astype(int) + 2 * pd.Series(odd, index=sub.index).astype(int)
    sub = sub.assign(_rank=rank)
    best = sub.sort_values(["_rank", "cross"], kind="stable").groupby("label", sort=False).head(1)
    return best.drop(columns="_rank")


def build_verdict(cases: list[CaseRecord], costs: pd.DataFrame | None = None) -> Verdict:
    """The verdict of a run's case records (``costs``: their :func:`cost_frame`, if built)."""
    costs = cost_frame(cases) if costs is None else costs
    frame = all_frame(cases)
    acc = accuracy_frame(frame)
    out = Verdict()
    out.failed = sorted(frame.loc[frame["status"] == "failed", "case_id"])
    busy = frame[frame["busy"].astype(bool)].sort_values("case_id")
    out.busy = [cid + (f" ({cores:.1f} other cores busy)" if np.isfinite(cores) else "")
                for cid, cores in zip(busy["case_id"], busy["other_cores"])]
    odd = frame[frame["anomalies"].fillna("") != ""].sort_values("case_id")
    out.anomalies = [f"{cid} ({text.split(':')[0]})" for cid, text in
                     zip(odd["case_id"], odd["anomalies"])]
    if costs.empty:
        return out
    chained = costs["chain"].astype(bool)
    same_round = costs["direct"].astype(bool) if "direct" in costs else chained & False
    if same_round.all():
        out.interval = ("quartiles of the per-round ratio case/fastest ReLU, both timed in the "
                        "same rounds of their comparison group")
    elif (same_round | chained).all():
        out.interval = ("quartiles of the per-round ratio to the fastest ReLU (same rounds), or "
                        "of the same-round chain through the anchor ReLU")
    elif chained.all():
        out.interval = ("quartiles of the same-round chain case/anchor ReLU × anchor/fastest "
                        "ReLU")
    elif chained.any():
        out.interval = ("quartiles of the same-round anchor chain where recorded, else of "
                        "sample-pair ratios")
    else:
        out.interval = "q1–q3 of the ratios of sample pairs, timed in different rounds"
    elem = costs[costs["context"] == "elementwise"]
    if len(elem):
        elem = largest(elem, GROUP)
    best = [_best_per_label(sub) for _, sub in elem.groupby(GROUP, sort=False)] if len(
        elem) else []
    for _, r in (pd.concat(best).iterrows() if best else ()):
        out.rows.append(Row(**Best.fields_of(r), shape=str(r["shape"]),
                            bandwidth_fraction=float(r["bandwidth_fraction"]),
                            saved_ratio=_saved(costs, r), accuracy=_accuracy(acc, frame, r)))
    blocks = costs[(costs["context"] != "elementwise") & costs["preset"].notna()]
    for _, sub in (blocks.groupby(["preset", *GROUP], sort=False) if len(blocks) else ()):
        for _, r in _best_per_label(sub).iterrows():
            out.blocks.append(BlockRow(**Best.fields_of(r), context=str(r["context"]),
                                       preset=str(r["preset"]),
                                       share=float(r["share"])))
    passes = pass_order([*(w.pass_ for w in out.rows), *(b.pass_ for b in out.blocks)])
    out.rows.sort(key=lambda w: (w.machine, w.device, w.dtype != "float32", w.dtype,
                                 _cache_key(w.cache), passes.index(w.pass_),
                                 family_key(w.activation, w.label)))
    out.blocks.sort(key=lambda b: (b.preset, b.machine, b.device, b.dtype != "float32", b.dtype,
                                   _cache_key(b.cache), passes.index(b.pass_),
                                   family_key(b.activation, b.label)))
    out.trust = judge([*out.rows, *out.blocks])
    return out


# ---------------------------------------------------------------------------- sentences


def _setting(r: Best) -> tuple[str, str, str, str]:
    return r.machine, r.device, r.dtype, r.cache


def _primary(v: Verdict) -> tuple[str, str, str, str] | None:
    """The setting sentences speak of: first machine and device, float32 if present, hot cache
    if present (of the activation rows, else of the blocks)."""
    items: list[Best] = [*v.rows] or [*v.blocks]  # a run of blocks or models only: its blocks
    if not items:
        return None
    w = items[0]
    caches = {r.cache for r in items if _setting(r)[:3] == _setting(w)[:3]}
    return w.machine, w.device, w.dtype, "hot" if "hot" in caches else sorted(caches)[0]


def sentences(v: Verdict) -> list[str]:
    """One plain sentence per GEM variant, in the primary setting."""
    prim = _primary(v)
    if prim is None:
        return []
    rows = [r for r in v.rows if _setting(r) == prim]
    out = []
    labels = list(dict.fromkeys(r.label for r in rows if r.activation in GEM_FAMILY))
    for label in labels:
        mine = [r for r in rows if r.label == label]
        parts = []
        for i, r in enumerate(mine):
            name = backend_title(r.backend)
            if r.withheld:
                parts.append(f"{fmt_pass(r.pass_)} withheld ({r.withheld})")
                continue
            ratio, spread = fmt_ratio(r.ratio), fmt_ratio_spread(r.ratio, r.lo, r.hi)
            spread = spread[len(ratio) + 2:-1] if spread != ratio else ""
            if i == 0:
                parts.append(f"{fmt_pass(r.pass_)} {ratio}×" + (f" ({spread})" if spread else "")
                             + f" the fastest ReLU here ({name})")
            else:
                note = ", ".join(x for x in (spread, name if r.backend != mine[0].backend
                                             else "") if x)
                parts.append(f"{fmt_pass(r.pass_)} {ratio}×" + (f" ({note})" if note else ""))
        in_blocks: dict[str, list[str]] = {}
        for b in v.blocks:
            if b.label == label and _setting(b) == prim and not b.withheld:
                in_blocks.setdefault(fmt_pass(b.pass_), []).append(
                    f"{_preset_title(b)} {(b.ratio - 1) * 100:+.1f}%")
        if in_blocks:
            parts.append("in blocks, " + "; ".join(f"{p}: {', '.join(t)}"
                                                    for p, t in in_blocks.items()))
        saved = next((r.saved_ratio for r in mine if math.isfinite(r.saved_ratio)), math.nan)
        if math.isfinite(saved):
            parts.append(f"saves {saved:.1f}× the input for backward")
        bad = {r.accuracy for r in mine} - {"ok", "–"}
        if bad:
            parts.append("accuracy: " + ", ".join(sorted(bad)))
        out.append(f"{label}: " + "; ".join(parts) + ".")
    if out:
        cache = "" if prim[3] == "-" else f", {prim[3]} cache"
        machine = f"machine {prim[0]}, " if len({r.machine for r in v.rows}) > 1 else ""
        out.insert(0, f"On {machine}{prim[1]}, {prim[2]}{cache}:")
    return out


def problems(v: Verdict, limit: int | None = None) -> list[str]:
    """Failed and busy cases, named (up to ``limit`` each, the rest counted)."""
    out = []
    for what, ids in (("failed", v.failed), ("measured on a busy machine", v.busy),
                      ("flagged as suspect (anomalies; never taken as the best)",
                       v.anomalies)):
        if not ids:
            continue
        shown = ids if limit is None else ids[:limit]
        more = f" and {len(ids) - len(shown)} more (see the report)" if len(shown) < len(ids) \
            else ""
        out.append(f"{len(ids)} case(s) {what}: " + ", ".join(shown) + more)
    return out


def cell(r: Best, spread: bool = True) -> str:
    """A ratio with (optionally) its interval, marked ``*`` when measured while busy; the
    reason instead where the figure is withheld."""
    if r.withheld:
        return f"withheld: {r.withheld}" if spread else "withheld"
    text = fmt_ratio_spread(r.ratio, r.lo, r.hi) if spread else fmt_ratio(r.ratio)
    return text + ("*" if r.busy else "")


# ---------------------------------------------------------------------------- rendering


def _algebraic(activation: str) -> str:
    """"yes" when the activation needs no exp/erf/tanh (only arithmetic, max/min, sqrt)."""
    try:
        return "yes" if transcendental_free(activation) else "no"
    except KeyError:  # an activation no longer registered here (an old results file)
        return "–"


def _columns(rows: list[Any], *names: str) -> list[str]:
    """Of ``names``, those that hold more than one value among ``rows``."""
    return [n for n in names if len({getattr(r, n) for r in rows}) > 1]


def _saved_text(x: float) -> str:
    return f"{x:.2f}×" if math.isfinite(x) else "–"


def markdown(v: Verdict) -> list[str]:
    """The verdict section of the markdown report."""
    head = ["## Verdict", ""]
    if v.empty:
        return [*head, "No case ran successfully: no verdict.", *problems(v), ""]
    head += [f"**{line}**" for line in v.trust.advice()] + ([""] if v.trust.advice() else [])
    out = [*head, *(f"- {s}" if i else s for i, s in enumerate(sentences(v))), ""]
    if v.rows:
        extra = _columns(v.rows, "machine", "device", "cache")
        rows = [[*(getattr(r, c) for c in extra), r.dtype, fmt_pass(r.pass_), r.shape,
                 r.label, r.backend, cell(r), fmt_pct(r.bandwidth_fraction),
                 _saved_text(r.saved_ratio), r.accuracy, _algebraic(r.activation)]
                for r in v.rows]
        out += ["Each activation's best implementation against the fastest ReLU of any backend "
                f"on the device (interval: {v.interval}), at the largest elementwise shape; "
                "`*`: measured on a busy machine.", "",
                md_table(rows, [*extra, "dtype", "pass", "shape", "activation",
                                "best implementation", "× fastest ReLU", "of copy BW",
                                "saved for backward (× input)", "accuracy",
                                "transcendental-free"]), ""]
    if v.blocks:
        extra = _columns(v.blocks, "machine", "device", "cache")
        rows = [[b.preset, *(getattr(b, c) for c in extra), b.dtype, fmt_pass(b.pass_), b.label,
                 b.backend, cell(b), f"{(b.ratio - 1) * 100:+.1f}%",
                 fmt_pct(b.share)] for b in v.blocks]
        out += ["Per block preset: the block with each activation (its best implementation) "
                "against the fastest ReLU block, and the activation's share of the block time.",
                "", md_table(rows, ["preset", *extra, "dtype", "pass", "activation",
                                    "best implementation", "× fastest ReLU block",
                                    "block time change", "activation share"]), ""]
    if any(r.cache == "mixed" for r in [*v.rows, *v.blocks]):
        out += ["Cache state *mixed*: a version-1 results file, timed with a copy of the "
                "tensor between samples, so neither hot nor cold.", ""]
    return [*out, *(f"- {p}" for p in [*v.trust.advice(), *problems(v)]), ""]


def _preset_title(b: BlockRow) -> str:
    """A block preset's plain name, as its context registered it (the name itself when the
    context is unknown here, e.g. a plugin's in an old file)."""
    try:
        return context_spec(b.context).titles.get(b.preset, b.preset)
    except KeyError:
        return b.preset


__all__ = ["GEM_FAMILY", "Best", "BlockRow", "Row", "Verdict", "build_verdict",
           "cell", "family_key", "markdown", "problems", "sentences"]
