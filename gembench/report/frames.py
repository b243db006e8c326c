"""The tables every report, plot, verdict and export is built from.

One definition of a **setting** (:data:`SETTING`: what must be equal for two cases to be
compared) and one rule for **the fastest ReLU** (:func:`best_relu`), used by every table, plot
and verdict. Reading the records happens here only: the rest of ``gembench.report`` works on
these frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gembench.plan.cases import PASSES
from gembench.report.fmt import shape_text

#: a setting: cases that share all of these are compared with each other (the fastest ReLU is
#: looked for among them).
SETTING = ["context", "device", "dtype", "shape", "numel", "pass", "threads", "allocator",
           "cache"]
#: a series: a setting without its size and pass (one plot, one verdict group per pass).
SERIES = [c for c in SETTING if c not in ("shape", "numel", "pass")]
#: setting columns shown in tables only when the report holds more than one value of them.
OPTIONAL = ["context", "device", "threads", "allocator", "cache"]
#: most samples of each side used for the pairwise-ratio quartiles (evenly spaced quantiles).
_MAX_PAIR_SAMPLES = 512

COLUMNS = [
    "case_id", *SETTING, "preset", "backend", "activation", "label", "status", "reason",
    "busy", "median", "iqr", "q1", "q3", "ratio", "ratio_q1", "ratio_q3", "relu_median",
    "copy_median", "bandwidth_fraction", "saved_ratio", "saved_bytes", "forward_eps",
    "backward_eps", "forward_tol", "backward_tol", "block_median", "share", "share_q1",
    "share_q3", "activation_median",
]


def _get(rec: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


def num(v: Any) -> float:
    """``v`` as a float; NaN when missing or not a number."""
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def case_row(c: dict[str, Any]) -> dict[str, Any]:
    """The figures of one case record that reports use (times in seconds)."""
    t = c.get("timing") if isinstance(c.get("timing"), dict) else {}
    err = c.get("error") if isinstance(c.get("error"), dict) else {}
    blk = c.get("block") if isinstance(c.get("block"), dict) else {}
    return {
        "case_id": str(c.get("case_id")),
        "context": c.get("context", "elementwise"),
        "device": c.get("device", "cpu"),
        "dtype": c.get("dtype"),
        "shape": shape_text(c.get("shape")),
        "numel": int(c.get("numel") or 0),
        "pass": c.get("pass"),
        "threads": c.get("threads"),
        "allocator": c.get("allocator"),
        "cache": c.get("cache") or "-",
        "preset": c.get("preset"),
        "backend": c.get("backend"),
        "activation": c.get("activation"),
        "label": c.get("label") or c.get("activation"),
        "status": c.get("status"),
        "reason": c.get("reason"),
        "busy": bool(c.get("machine_busy")),
        "median": num(t.get("median")),
        "iqr": num(t.get("iqr")),
        "q1": num(t.get("q1")),
        "q3": num(t.get("q3")),
        "ratio": num(_get(t, "ratio_to_relu", "median")),
        "ratio_q1": num(_get(t, "ratio_to_relu", "q1")),
        "ratio_q3": num(_get(t, "ratio_to_relu", "q3")),
        "relu_median": num(_get(t, "relu", "median")),
        "copy_median": num(_get(t, "copy", "median")),
        "bandwidth_fraction": num(_get(c, "derived", "bandwidth_fraction")),
        "saved_ratio": num(_get(c, "memory", "saved_ratio")),
        "saved_bytes": num(_get(c, "memory", "saved_bytes")),
        "forward_eps": num(err.get("forward_eps")),
        "backward_eps": num(err.get("backward_eps")),
        "forward_tol": num(err.get("forward_tol")),
        "backward_tol": num(err.get("backward_tol")),
        "block_median": num(blk.get("median")),
        "share": num(blk.get("activation_share")),
        "share_q1": num(_get(blk, "activation_share_q", "q1")),
        "share_q3": num(_get(blk, "activation_share_q", "q3")),
        "activation_median": num(_get(blk, "activation", "median")),
    }


def all_frame(cases: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per case, whatever its status."""
    return pd.DataFrame([case_row(c) for c in cases], columns=COLUMNS)


def case_frame(cases: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per *ok* case that has timings."""
    ok = [c for c in cases if c.get("status") == "ok" and isinstance(c.get("timing"), dict)]
    return all_frame(ok)


def samples_of(rec: dict[str, Any], *path: str) -> list[float]:
    """The raw timing samples at ``timing/<path>`` of a record (``[]`` when not stored)."""
    return list(_get(rec, "timing", *path, "samples") or [])


def relu_times(group: pd.DataFrame, records: dict[str, dict[str, Any]]
               ) -> dict[str, tuple[float, list[float], float, float]]:
    """Per backend, its ReLU in one setting as (median, samples, q1, q3).

    A backend's ReLU case is its own measurement; without one, the median of the ReLU
    baselines timed interleaved beside its cases stands in (its samples: those of the baseline
    nearest that median).
    """
    out: dict[str, tuple[float, list[float], float, float]] = {}
    for be, sub in group.groupby("backend", sort=False):
        relu = sub[sub["activation"] == "relu"]
        if len(relu):
            row = relu.sort_values("median").iloc[0]
            rec = records[row["case_id"]]
            out[str(be)] = (float(row["median"]), samples_of(rec), row["q1"], row["q3"])
            continue
        bases = [_get(records[cid], "timing", "relu") for cid in sub["case_id"]]
        bases = [b for b in bases if isinstance(b, dict) and b.get("median") is not None]
        if not bases:
            continue
        med = float(np.median([float(b["median"]) for b in bases]))
        near = min(bases, key=lambda b: abs(float(b["median"]) - med))
        out[str(be)] = (med, list(near.get("samples") or []), num(near.get("q1")),
                        num(near.get("q3")))
    return out


def best_relu(group: pd.DataFrame, records: dict[str, dict[str, Any]]
              ) -> tuple[str, tuple[float, list[float], float, float]] | None:
    """The fastest ReLU of one setting: the backend whose ReLU median (:func:`relu_times`)
    is lowest, or ``None`` when no ReLU was timed."""
    cands = relu_times(group, records)
    if not cands:
        return None
    be = min(cands, key=lambda k: cands[k][0])
    return be, cands[be]


def _quantile_points(samples: Sequence[float], n: int) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    if a.size <= n:
        return a
    return np.quantile(a, np.linspace(0.0, 1.0, n))


def pairwise_ratio_quartiles(num_s: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """Quartiles of num[i] / den[j] over every pair: the spread of the ratio of two independent
    draws (used where the two were not timed in the same rounds)."""
    a = _quantile_points(num_s, _MAX_PAIR_SAMPLES)
    b = _quantile_points(den, _MAX_PAIR_SAMPLES)
    r = np.divide.outer(a, b).ravel()
    q1, q3 = np.percentile(r, [25, 75])
    return float(q1), float(q3)


def cost_frame(cases: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`case_frame` plus the ratio to the fastest ReLU of the setting
    (:func:`best_relu`): ``best_backend``, ``best_median``, ``cross``, ``cross_q1``,
    ``cross_q3``."""
    df = case_frame(cases)
    records = {str(c.get("case_id")): c for c in cases if c.get("status") == "ok"}
    df["best_backend"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    for col in ("best_median", "cross", "cross_q1", "cross_q3"):
        df[col] = math.nan
    if df.empty:
        return df
    for _, group in df.groupby(SETTING, sort=False, dropna=False):
        best = best_relu(group, records)
        if best is None:
            continue
        best_be, (b_med, b_samples, b_q1, b_q3) = best
        for idx, row in group.iterrows():
            samples = samples_of(records[row["case_id"]])
            if len(samples) >= 2 and len(b_samples) >= 2:
                q1, q3 = pairwise_ratio_quartiles(samples, b_samples)
            else:
                q1, q3 = row["q1"] / b_q3, row["q3"] / b_q1
            df.loc[idx, ["best_backend"]] = best_be
            df.loc[idx, ["best_median", "cross", "cross_q1", "cross_q3"]] = [
                b_med, row["median"] / b_med, q1, q3]
    return df


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


__all__ = ["COLUMNS", "OPTIONAL", "SERIES", "SETTING", "all_frame", "best_relu", "case_frame",
           "case_row", "cost_frame", "largest", "num", "order", "pairwise_ratio_quartiles",
           "pass_order", "relu_times", "varying"]
