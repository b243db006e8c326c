"""The tables every report, plot, verdict and export is built from.

One definition of a **setting** (:data:`SETTING`: what must be equal for two cases to be
compared) and one rule for **the fastest ReLU** and a case's ratio to it (:func:`cost_frame`:
through the anchor ReLU timed in the same rounds where recorded, else :func:`best_relu`), used
by every table, plot, verdict and export. Reading the records happens here only: the rest of
``gembench.report`` works on these frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gembench.report.fmt import shape_text
from gembench.results import CaseRecord
from gembench.results.best_relu import best_relu_ratios, direct
from gembench.results.records import RatioStats, Stats
from gembench.spec.cases import PASSES
from gembench.stats import outer_quartiles

#: a setting: cases that share all of these are compared with each other (the fastest ReLU is
#: looked for among them).
SETTING = ["machine", "context", "device", "dtype", "shape", "numel", "pass", "threads",
           "allocator", "cache"]
#: a series: a setting without its size and pass (one plot, one verdict group per pass).
SERIES = [c for c in SETTING if c not in ("shape", "numel", "pass")]
#: setting columns shown in tables only when the report holds more than one value of them.
OPTIONAL = ["machine", "context", "device", "threads", "allocator", "cache"]

COLUMNS = [
    "case_id", *SETTING, "preset", "backend", "activation", "label", "status", "reason",
    "busy", "median", "iqr", "q1", "q3", "ratio", "ratio_q1", "ratio_q3", "anchor_ratio",
    "anchor_ratio_q1", "anchor_ratio_q3", "relu_median",
    "copy_median", "bandwidth_fraction", "saved_ratio", "saved_bytes", "forward_eps",
    "backward_eps", "forward_tol", "backward_tol", "block_median", "share", "share_q1",
    "share_q3", "activation_median", "recheck_ok", "other_cores", "anomalies",
]


def num(v: Any) -> float:
    """``v`` as a float; NaN when missing or not a number."""
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _stat(s: Stats | RatioStats | None, name: str) -> float:
    return num(getattr(s, name, None)) if s is not None else math.nan


def case_row(c: CaseRecord) -> dict[str, Any]:
    """The figures of one case record that reports use (times in seconds)."""
    t, err, blk = c.timing, c.error, c.block
    return {
        "case_id": c.case_id, "machine": c.machine_key or "", "context": c.context,
        "device": c.device, "dtype": c.dtype,
        "shape": shape_text(c.shape), "numel": int(c.numel or 0), "pass": c.pass_,
        "threads": c.threads, "allocator": c.allocator, "cache": c.cache, "preset": c.preset,
        "backend": c.backend, "activation": c.activation, "label": c.label or c.activation,
        "status": c.status, "reason": c.reason, "busy": bool(c.machine_busy),
        **{k: _stat(t, k) for k in ("median", "iqr", "q1", "q3")},
        "ratio": _stat(t and t.ratio_to_relu, "median"),
        "ratio_q1": _stat(t and t.ratio_to_relu, "q1"),
        "ratio_q3": _stat(t and t.ratio_to_relu, "q3"),
        "anchor_ratio": _stat(t and t.ratio_to_anchor, "median"),
        "anchor_ratio_q1": _stat(t and t.ratio_to_anchor, "q1"),
        "anchor_ratio_q3": _stat(t and t.ratio_to_anchor, "q3"),
        "relu_median": _stat(t and t.relu, "median"),
        "copy_median": _stat(t and t.copy, "median"),
        "bandwidth_fraction": num(c.derived and c.derived.bandwidth_fraction),
        "saved_ratio": num(c.memory and c.memory.saved_ratio),
        "saved_bytes": num(c.memory and c.memory.saved_bytes),
        **{k: num(getattr(err, k, None)) for k in ("forward_eps", "backward_eps",
                                                    "forward_tol", "backward_tol")},
        "block_median": num(blk and blk.median),
        "share": num(blk and blk.activation_share),
        "share_q1": _stat(blk and blk.activation_share_q, "q1"),
        "share_q3": _stat(blk and blk.activation_share_q, "q3"),
        "activation_median": _stat(blk and blk.activation, "median"),
        "recheck_ok": None if err is None or err.recheck is None else bool(err.recheck.ok),
        "other_cores": num(c.busy and c.busy.other_cores),
        "anomalies": "; ".join(c.anomalies or []),
    }


def all_frame(cases: Iterable[CaseRecord]) -> pd.DataFrame:
    """One row per case, whatever its status."""
    return pd.DataFrame([case_row(c) for c in cases], columns=COLUMNS)


def case_frame(cases: Iterable[CaseRecord]) -> pd.DataFrame:
    """One row per *ok* case that has timings."""
    return all_frame(c for c in cases if c.status == "ok" and c.timing is not None)


#: one ReLU time: (median, per-call samples, q1, q3)
ReluTime = tuple[float, list[float], float, float]


def _relu_time(s: Stats) -> ReluTime:
    return float(s.median), list(s.samples or []), _stat(s, "q1"), _stat(s, "q3")


def relu_times(group: pd.DataFrame, records: dict[str, CaseRecord]) -> dict[str, ReluTime]:
    """Per backend, its ReLU in one setting.

    A backend's ReLU case is its own measurement; without one, the median of the ReLU
    baselines timed interleaved beside its cases stands in (its samples: those of the baseline
    nearest that median).
    """
    out: dict[str, ReluTime] = {}
    for be, sub in group.groupby("backend", sort=False):
        relu = sub[sub["activation"] == "relu"]
        if len(relu):
            row = relu.sort_values("median").iloc[0]
            timing = records[row["case_id"]].timing
            assert timing is not None  # case_frame holds timed cases only
            out[str(be)] = _relu_time(timing)
            continue
        bases = [records[cid].timing.relu for cid in sub["case_id"]
                 if records[cid].timing is not None and records[cid].timing.relu is not None]
        if not bases:
            continue
        med = float(np.median([b.median for b in bases]))
        near = min(bases, key=lambda b: abs(b.median - med))
        out[str(be)] = (med, *_relu_time(near)[1:])
    return out


def best_relu(group: pd.DataFrame, records: dict[str, CaseRecord]
              ) -> tuple[str, ReluTime] | None:
    """The fastest ReLU of one setting: the backend whose ReLU median (:func:`relu_times`)
    is lowest, or ``None`` when no ReLU was timed."""
    cands = relu_times(group, records)
    if not cands:
        return None
    be = min(cands, key=lambda k: cands[k][0])
    # ReLUs timed in the same rounds are compared as users read them, round by round: one
    # whose per-round ratio to the current fastest has a median below 1 is the faster (the
    # lowest median time alone can differ, and the fastest would then read below 1.00)
    first = group[group["activation"] == "relu"].sort_values("median").drop_duplicates("backend")
    own = {str(b): records[str(c)] for b, c in zip(first["backend"], first["case_id"])}
    for other, rec in own.items():
        if other != be and be in own and other in cands:
            d = direct(rec, own[be])
            if d is not None and d.median < 1.0:
                be = other
    return be, cands[be]


def pairwise_ratio_quartiles(num_s: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """Quartiles of num[i] / den[j] over every pair: the spread of the ratio of two independent
    draws (used where the two were not timed in the same rounds)."""
    q1, _med, q3 = outer_quartiles(num_s, den, np.divide)
    return q1, q3


def cost_frame(cases: list[CaseRecord]) -> pd.DataFrame:
    """:func:`case_frame` plus the ratio to the fastest ReLU of the setting: ``best_backend``,
    ``best_median``, ``cross``, ``cross_q1``, ``cross_q3``, ``chain`` and ``direct``.

    Where the case and the fastest ReLU were timed in the same rounds of one comparison group
    the ratio is direct, round by round (``direct`` True).
    Where the cases were timed with the anchor ReLU (torch eager ``torch.relu`` in the same
    rounds), the fastest ReLU is the ReLU case with the lowest per-round ratio to the anchor and
    the ratio is the same-round chain case/anchor × anchor/best
    (:func:`gembench.results.best_relu.best_relu_ratios`; ``chain`` True). Otherwise (blocks,
    version-1 files) it is :func:`best_relu` and the ratio of medians, with the quartiles of
    every sample pair (``chain`` False).
    """
    df = case_frame(cases)
    records = {c.case_id: c for c in cases if c.status == "ok"}
    chained = best_relu_ratios(list(records.values()))
    df["best_backend"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    for col in ("best_median", "cross", "cross_q1", "cross_q3"):
        df[col] = math.nan
    df["chain"] = False
    df["direct"] = False
    df["best_busy"] = False  # the fastest ReLU the ratio divides by was measured busy
    if df.empty:
        return df
    for _, group in df.groupby(SETTING, sort=False, dropna=False):
        best = best_relu(group, records)
        for idx, row in group.iterrows():
            rec = records[row["case_id"]]
            via = chained.get(rec.case_id)
            if via is not None:
                b_timing = records[via.best_case_id].timing
                r = via.ratio
                df.loc[idx, ["best_backend"]] = via.best_backend
                df.loc[idx, ["best_median", "cross", "cross_q1", "cross_q3", "chain",
                             "direct"]] = [b_timing.median if b_timing else math.nan, r.median,
                                           num(r.q1), num(r.q3), not via.direct, via.direct]
                df.loc[idx, ["best_busy"]] = bool(records[via.best_case_id].machine_busy)
                continue
            if best is None:
                continue
            best_be, (b_med, b_samples, b_q1, b_q3) = best
            same = _direct_to(rec, group, best_be, records)
            if same is not None:
                df.loc[idx, ["best_backend"]] = best_be
                df.loc[idx, ["best_median", "cross", "cross_q1", "cross_q3", "direct"]] = [
                    b_med, same.median, num(same.q1), num(same.q3), True]
                continue
            samples = (rec.timing.samples if rec.timing else None) or []
            if len(samples) >= 2 and len(b_samples) >= 2:
                q1, q3 = pairwise_ratio_quartiles(samples, b_samples)
            else:
                q1, q3 = row["q1"] / b_q3, row["q3"] / b_q1
            df.loc[idx, ["best_backend"]] = best_be
            df.loc[idx, ["best_median", "cross", "cross_q1", "cross_q3"]] = [
                b_med, row["median"] / b_med, q1, q3]
    return df


def _direct_to(rec: CaseRecord, group: pd.DataFrame, backend: str,
               records: dict[str, CaseRecord]) -> RatioStats | None:
    """The per-round ratio of ``rec`` to ``backend``'s ReLU case of the same setting, where
    both were timed in the same rounds of one comparison group."""
    relu = group[(group["activation"] == "relu") & (group["backend"] == backend)]
    for cid in relu["case_id"]:
        same = direct(rec, records[cid])
        if same is not None:
            return same
    return None


def pass_order(values: Iterable[Any]) -> list[str]:
    """Passes in the engine's order, unknown ones after."""
    present = {str(v) for v in values}
    return [p for p in PASSES if p in present] + sorted(present - set(PASSES))


def order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by setting, then ReLU first, then activation and backend."""
    key = df.assign(_relu=(df["activation"] != "relu").astype(int))
    cols = ["context", "device", "dtype", "numel", "threads", "allocator", "cache", "_relu",
            "label", "backend"]
    return key.sort_values(cols, kind="stable").drop(columns="_relu")


def varying(df: pd.DataFrame, columns: Sequence[str] = OPTIONAL) -> list[str]:
    """The columns of ``columns`` that hold more than one value in ``df``."""
    return [c for c in columns if c in df and df[c].nunique(dropna=False) > 1]


def largest(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows at the largest element count within each group of ``keys``."""
    top = df.groupby(keys, dropna=False)["numel"].transform("max")
    return df[df["numel"] == top]


__all__ = ["COLUMNS", "OPTIONAL", "SERIES", "SETTING", "ReluTime", "all_frame",
           "best_relu", "case_frame", "case_row", "cost_frame",
           "largest", "num", "order", "pairwise_ratio_quartiles", "pass_order", "relu_times",
           "varying"]
