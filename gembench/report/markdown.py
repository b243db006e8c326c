"""Markdown report of one or more results files (pandas for the tables, tabulate to print them).

The report has, in order: the environment of each run; per pass a table of cost relative to
ReLU; memory; accuracy; failed and skipped cases; facts the backends recorded (graph op counts,
compile settings); plots (PNG files written next to the report by :mod:`gembench.report.plots`).

Two ratios to ReLU are given for every case, because each answers a different question:

* **× ReLU, same backend**: the median of per-round ratios case/ReLU, the two timed interleaved
  round by round on the same backend (``timing.ratio_to_relu``), with the quartiles of those
  per-round ratios. Drift of a shared machine cancels; but a backend whose own ReLU is slow
  (a compiled graph's launch overhead, say) flatters every activation it runs.
* **× fastest ReLU**: the case's median divided by the fastest ReLU median of *any* backend in
  the same setting (device, dtype, shape, pass, threads, allocator, context). The two were
  timed in different rounds, so there are no per-round ratios: the spread shown is the quartiles
  of the ratios of every case sample to every sample of that ReLU (the distribution of the
  ratio of two independent draws). Without raw samples it falls back to q1(case)/q3(ReLU) to
  q3(case)/q1(ReLU).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from gembench.plan.cases import PASSES
from gembench.results import load_run

#: columns that make a setting: the fastest ReLU is looked for among cases sharing all of them.
SETTING = ["context", "device", "dtype", "shape", "numel", "pass", "threads", "allocator"]
#: setting columns shown in the tables only when the report holds more than one value of them.
OPTIONAL = ["context", "device", "threads", "allocator"]
#: most samples of each side used for the pairwise-ratio quartiles (evenly spaced quantiles).
_MAX_PAIR_SAMPLES = 512

WHY_TWO_RATIOS = (
    "*Why two ratios:* **× ReLU, same backend** (interleaved per-round ratios) cancels machine "
    "drift but is relative to that backend's own ReLU, which can be slow: compiled GEM can look "
    "8× cheaper than its compiled \"ReLU\" and still cost 1.5× the best ReLU; **× fastest ReLU** "
    "(ratio of medians against the fastest ReLU of any backend here) is the cost you would "
    "actually pay for choosing it."
)


class ResultsError(Exception):
    """A path given as results is missing or is not a gembench results file."""


# ---------------------------------------------------------------------------- loading


def results_path(path: Path | str) -> Path:
    """The results file for ``path``: the file itself, or ``results.jsonl`` in a run directory."""
    p = Path(path)
    if p.is_dir():
        inner = p / "results.jsonl"
        if not inner.is_file():
            raise ResultsError(f"{p}: a directory without results.jsonl")
        return inner
    if not p.exists():
        raise ResultsError(f"{p}: no such file or directory")
    if not p.is_file():
        raise ResultsError(f"{p}: not a regular file")
    return p


def load_results(path: Path | str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """``(file, run record, case records)`` of a results file or run directory.

    Raises :class:`ResultsError` with a one-line message when it is not a results file.
    """
    p = results_path(path)
    try:
        run_rec, case_recs = load_run(p)
        # compatibility until the report reads the typed records' attributes
        run, cases = (run_rec.to_json() if run_rec else {}), [c.to_json() for c in case_recs]
    except UnicodeDecodeError:
        raise ResultsError(f"{p}: not a gembench results file (not UTF-8 text)") from None
    except ValueError as exc:  # a results schema this gembench does not read
        raise ResultsError(f"{p}: {exc}") from None
    except OSError as exc:
        raise ResultsError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except (KeyError, TypeError, AttributeError):
        raise ResultsError(f"{p}: not a gembench results file (malformed records)") from None
    if not run:
        raise ResultsError(f"{p}: not a gembench results file (no run record on its first "
                           "line; expected JSON lines written by `gembench run`)")
    return p, run, cases


# ---------------------------------------------------------------------------- formatting


def fmt_ratio(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"


def fmt_ratio_spread(med: float, q1: float, q3: float) -> str:
    """``"1.52 (1.49–1.55)"``: a ratio with its quartiles."""
    if med is None or not np.isfinite(med):
        return "–"
    if q1 is None or q3 is None or not (np.isfinite(q1) and np.isfinite(q3)):
        return fmt_ratio(med)
    return f"{fmt_ratio(med)} ({fmt_ratio(q1)}–{fmt_ratio(q3)})"


def time_unit(seconds: float) -> tuple[str, float]:
    if seconds < 1e-6:
        return "ns", 1e9
    if seconds < 1e-3:
        return "µs", 1e6
    if seconds < 1.0:
        return "ms", 1e3
    return "s", 1.0


def _sig(v: float, digits: int) -> str:
    """``v`` to about ``digits`` significant digits, in plain (not exponent) notation."""
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def fmt_time(seconds: float, iqr: float | None = None) -> str:
    """``"237.8 µs (IQR 27.1)"``: a median and its interquartile range in the same unit."""
    if seconds is None or not np.isfinite(seconds):
        return "–"
    unit, scale = time_unit(seconds)
    text = f"{_sig(seconds * scale, 4)} {unit}"
    if iqr is not None and np.isfinite(iqr):
        text += f" (IQR {_sig(iqr * scale, 3)})"
    return text


def fmt_bytes(n: float | None) -> str:
    if n is None or (isinstance(n, float) and not np.isfinite(n)):
        return "–"
    n = float(n)
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"


def fmt_eps(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.3g}"


def _cell(v: Any) -> str:
    """A table cell: one line, pipes escaped (tabulate's github format does not escape)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return str(v).replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    return tabulate([[_cell(v) for v in r] for r in rows], headers=[_cell(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def _shape_text(shape: Any) -> str:
    if isinstance(shape, (list, tuple)):
        return "x".join(str(s) for s in shape)
    return str(shape)


# ---------------------------------------------------------------------------- frames


def _get(rec: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def case_frame(cases: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per *ok* case with the figures the report uses (times in seconds)."""
    rows = []
    for c in cases:
        if c.get("status") != "ok" or not isinstance(c.get("timing"), dict):
            continue
        t = c["timing"]
        rows.append({
            "case_id": c.get("case_id"),
            "context": c.get("context", "elementwise"),
            "device": c.get("device", "cpu"),
            "dtype": c.get("dtype"),
            "shape": _shape_text(c.get("shape")),
            "numel": int(c.get("numel") or 0),
            "pass": c.get("pass"),
            "threads": c.get("threads"),
            "allocator": c.get("allocator"),
            "backend": c.get("backend"),
            "activation": c.get("activation"),
            "label": c.get("label") or c.get("activation"),
            "median": _num(t.get("median")),
            "iqr": _num(t.get("iqr")),
            "q1": _num(t.get("q1")),
            "q3": _num(t.get("q3")),
            "ratio": _num(_get(t, "ratio_to_relu", "median")),
            "ratio_q1": _num(_get(t, "ratio_to_relu", "q1")),
            "ratio_q3": _num(_get(t, "ratio_to_relu", "q3")),
            "relu_median": _num(_get(t, "relu", "median")),
            "copy_median": _num(_get(t, "copy", "median")),
            "bandwidth_fraction": _num(_get(c, "derived", "bandwidth_fraction")),
        })
    return pd.DataFrame(rows, columns=[
        "case_id", *SETTING[:4], "numel", "pass", "threads", "allocator", "backend",
        "activation", "label", "median", "iqr", "q1", "q3", "ratio", "ratio_q1", "ratio_q3",
        "relu_median", "copy_median", "bandwidth_fraction",
    ])


def _relu_candidates(group: pd.DataFrame, records: dict[str, dict[str, Any]]
                     ) -> dict[str, tuple[float, list[float], float, float]]:
    """Per backend: its ReLU in this setting, as (median, samples, q1, q3).

    A backend's ReLU case is its own measurement; without one, the fastest of the ReLU baselines
    timed interleaved with its other cases stands in.
    """
    out: dict[str, tuple[float, list[float], float, float]] = {}
    for be, sub in group.groupby("backend", sort=False):
        relu = sub[sub["activation"] == "relu"]
        if len(relu):
            row = relu.sort_values("median").iloc[0]
            t = records[row["case_id"]]["timing"]
            out[str(be)] = (float(row["median"]), t.get("samples") or [],
                            _num(t.get("q1")), _num(t.get("q3")))
            continue
        best: tuple[float, list[float], float, float] | None = None
        for cid in sub["case_id"]:
            base = _get(records[cid], "timing", "relu")
            if not isinstance(base, dict) or base.get("median") is None:
                continue
            cand = (float(base["median"]), base.get("samples") or [], _num(base.get("q1")),
                    _num(base.get("q3")))
            if best is None or cand[0] < best[0]:
                best = cand
        if best is not None:
            out[str(be)] = best
    return out


def _quantile_points(samples: Sequence[float], n: int) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    if a.size <= n:
        return a
    return np.quantile(a, np.linspace(0.0, 1.0, n))


def pairwise_ratio_quartiles(num: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """Quartiles of num[i] / den[j] over every pair: the spread of the ratio of two independent
    draws (used where the two were not timed in the same rounds)."""
    a = _quantile_points(num, _MAX_PAIR_SAMPLES)
    b = _quantile_points(den, _MAX_PAIR_SAMPLES)
    r = np.divide.outer(a, b).ravel()
    q1, q3 = np.percentile(r, [25, 75])
    return float(q1), float(q3)


def cost_frame(cases: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`case_frame` plus the ratio to the fastest ReLU of any backend in each setting:
    ``best_backend``, ``best_median``, ``cross``, ``cross_q1``, ``cross_q3``."""
    df = case_frame(cases)
    records = {c["case_id"]: c for c in cases if c.get("status") == "ok"}
    df["best_backend"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    for col in ("best_median", "cross", "cross_q1", "cross_q3"):
        df[col] = math.nan
    if df.empty:
        return df
    for _, group in df.groupby(SETTING, sort=False, dropna=False):
        cands = _relu_candidates(group, records)
        if not cands:
            continue
        best_be = min(cands, key=lambda k: cands[k][0])
        b_med, b_samples, b_q1, b_q3 = cands[best_be]
        for idx, row in group.iterrows():
            t = records[row["case_id"]]["timing"]
            samples = t.get("samples") or []
            cross = row["median"] / b_med
            if len(samples) >= 2 and len(b_samples) >= 2:
                q1, q3 = pairwise_ratio_quartiles(samples, b_samples)
            else:
                q1, q3 = row["q1"] / b_q3, row["q3"] / b_q1
            df.loc[idx, ["best_backend"]] = best_be
            df.loc[idx, ["best_median", "cross", "cross_q1", "cross_q3"]] = [b_med, cross, q1, q3]
    return df


def _order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by setting, then ReLU first, then activation and backend."""
    key = df.assign(_relu=(df["activation"] != "relu").astype(int))
    cols = ["context", "device", "dtype", "numel", "threads", "allocator", "_relu", "label",
            "backend"]
    return key.sort_values(cols, kind="stable").drop(columns="_relu")


def _varying(df: pd.DataFrame) -> list[str]:
    return [c for c in OPTIONAL if c in df and df[c].nunique(dropna=False) > 1]


# ---------------------------------------------------------------------------- sections


def _env_rows(runs: list[tuple[Path, dict[str, Any], list[dict[str, Any]]]]
              ) -> tuple[list[list[str]], list[str]]:
    from gembench.engine.environment import ALLOCATOR_SETTINGS

    def facts(path: Path, run: dict[str, Any], cases: list[dict[str, Any]]) -> dict[str, str]:
        env = run.get("environment") or {}
        cpu = env.get("cpu") or {}
        pk = env.get("packages") or {}
        gpu = env.get("gpu")
        git = env.get("git") or {}
        suite_env = env.get("suite") or {}
        if gpu and not gpu.get("error"):
            gpu_text = (f"{gpu.get('name')} ×{gpu.get('count', 1)}, "
                        f"{fmt_bytes(gpu.get('memory_bytes'))}, CUDA {gpu.get('cuda')}, "
                        f"driver {gpu.get('driver') or '?'}")
        elif gpu:
            gpu_text = f"unknown ({gpu.get('error')})"
        else:
            gpu_text = "none"
        allocs = sorted({str(c.get("allocator")) for c in cases if c.get("allocator")})
        alloc_text = "; ".join(
            a + (" (" + ", ".join(f"{k}={v}" for k, v in ALLOCATOR_SETTINGS.get(a, {}).items())
                 + ")" if ALLOCATOR_SETTINGS.get(a) else " (glibc defaults)")
            for a in allocs) or "–"
        runner_alloc = env.get("allocator_env_of_runner") or {}
        counts = Counter(str(c.get("status")) for c in cases)
        policy = run.get("timing_policy") or {}
        commit = git.get("commit") or "unknown"
        if git.get("dirty"):
            commit += " (uncommitted changes)"
        return {
            "results file": str(path),
            "suite": str(run.get("suite") or "?"),
            "suite file": str(run.get("suite_path") or suite_env.get("path") or "–"),
            "suite sha256": str(run.get("suite_sha256") or suite_env.get("sha256") or "–"),
            "description": str(run.get("description") or "–"),
            "started": str(run.get("started") or "?"),
            "cases": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none",
            "CPU": str(cpu.get("brand_raw") or cpu.get("error") or "?"),
            "cores (logical / usable)": f"{env.get('logical_cores', '?')} / "
                                        f"{env.get('usable_cores', '?')}",
            "OS": str(env.get("os") or "?"),
            "Python": str(env.get("python") or "?"),
            "torch": str(pk.get("torch") or "–"),
            "numpy": str(pk.get("numpy") or "–"),
            "onnxruntime": str(pk.get("onnxruntime") or "–"),
            "triton": str(pk.get("triton") or "–"),
            "GPU": gpu_text,
            "git commit": commit,
            "gembench": str(run.get("gembench") or "?"),
            "allocator of the cases": alloc_text,
            "allocator env of the runner": ", ".join(
                f"{k}={v if v is not None else 'unset'}" for k, v in runner_alloc.items()) or "–",
            "timing policy": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in policy.items()) or "–",
            "seed": str(run.get("seed", "–")),
        }

    per_run = [facts(*r) for r in runs]
    keys = list(per_run[0])
    fields = [(k, [f[k] for f in per_run]) for k in keys]
    rows = [[k, *vals] for k, vals in fields]
    headers = ["", *(f"run {i + 1}" if len(runs) > 1 else "value" for i in range(len(runs)))]
    return rows, headers


def _cost_section(df: pd.DataFrame) -> list[str]:
    out: list[str] = []
    if df.empty:
        return ["## Cost relative to ReLU", "", "No case ran successfully: nothing to compare.", ""]
    extra = _varying(df)
    passes = [p for p in PASSES if p in set(df["pass"])] + sorted(
        set(df["pass"]) - set(PASSES))
    for p in passes:
        sub = _order(df[df["pass"] == p])
        headers = ["shape", "dtype", *extra, "activation", "backend",
                   "× ReLU, same backend (q1–q3)", "× fastest ReLU (q1–q3)", "fastest ReLU",
                   "median (IQR)", "of copy BW"]
        rows = []
        for _, r in sub.iterrows():
            rows.append([
                r["shape"], r["dtype"], *(r[c] for c in extra), r["label"], r["backend"],
                fmt_ratio_spread(r["ratio"], r["ratio_q1"], r["ratio_q3"]),
                fmt_ratio_spread(r["cross"], r["cross_q1"], r["cross_q3"]),
                f"{r['best_backend']} {fmt_time(r['best_median'])}"
                if r["best_backend"] else "–",
                fmt_time(r["median"], r["iqr"]),
                fmt_pct(r["bandwidth_fraction"]),
            ])
        out += [f"## Cost relative to ReLU: {p.replace('_', '+')}", "", md_table(rows, headers),
                "", WHY_TWO_RATIOS, ""]
    return out


def _fmt_share(med: float, q1: float, q3: float) -> str:
    """``"19% (14–22%)"``: a share of the block's time with its quartiles."""
    if not np.isfinite(med):
        return "–"
    if not (np.isfinite(q1) and np.isfinite(q3)):
        return f"{med:.0%}"
    return f"{med:.0%} ({q1 * 100:.0f}–{q3:.0%})"


def _block_section(cases: list[dict[str, Any]]) -> list[str]:
    """Block contexts (MLP, conv block): how much of the block the activation costs."""
    # the fastest ReLU block of any backend in the same setting: what a user would compare with
    best: dict[tuple[Any, ...], tuple[float, str]] = {}

    def setting(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c.get("context"), c.get("device"), c.get("dtype"), str(c.get("shape")),
                c.get("pass"), c.get("threads"), c.get("allocator"))

    # each backend's ReLU block time: the median over its ReLU case and every interleaved ReLU
    # baseline measured beside its other cases (robust to one noisy case)
    relu_times: dict[tuple[Any, ...], dict[str, list[float]]] = {}
    for c in cases:
        if c.get("status") == "ok" and c.get("block"):
            med = _num(_get(c, "timing", "relu", "median"))
            if med == med:
                relu_times.setdefault(setting(c), {}).setdefault(
                    str(c.get("backend")), []).append(med)
    for key, per_backend in relu_times.items():
        be, med = min(((b, float(np.median(v))) for b, v in per_backend.items()),
                      key=lambda bv: bv[1])
        best[key] = (med, be)
    rows = []
    for c in cases:
        blk = c.get("block")
        if c.get("status") != "ok" or not isinstance(blk, dict):
            continue
        t = c.get("timing") or {}
        mem = c.get("memory") or {}
        share_q = blk.get("activation_share_q") or {}
        act = blk.get("activation") or {}
        rows.append((
            (str(c.get("context")), str(c.get("device")), str(c.get("dtype")),
             int(c.get("numel") or 0), PASSES.index(c["pass"]) if c.get("pass") in PASSES else 9,
             c.get("activation") != "relu", str(c.get("label")), str(c.get("backend"))),
            [c.get("context"), _shape_text(c.get("shape")), c.get("dtype"),
             str(c.get("pass")).replace("forward_backward", "forward+backward"), c.get("label"),
             c.get("backend"), fmt_time(_num(t.get("median")), _num(t.get("iqr"))),
             fmt_ratio_spread(_num(_get(t, "ratio_to_relu", "median")),
                              _num(_get(t, "ratio_to_relu", "q1")),
                              _num(_get(t, "ratio_to_relu", "q3"))),
             (f"{fmt_ratio(_num(t.get('median')) / best[setting(c)][0])} "
              f"({best[setting(c)][1]})") if setting(c) in best else "–",
             fmt_time(_num(act.get("median"))),
             _fmt_share(_num(blk.get("activation_share")), _num(share_q.get("q1")),
                        _num(share_q.get("q3"))),
             fmt_ratio(_num(mem.get("saved_vs_relu_block"))) + "×"
             if mem.get("saved_vs_relu_block") is not None else "–",
             fmt_ratio(_num(mem.get("peak_vs_relu_block"))) + "×"
             if mem.get("peak_vs_relu_block") is not None else "–"],
        ))
    if not rows:
        return []
    rows.sort(key=lambda r: r[0])
    headers = ["context", "shape", "dtype", "pass", "activation", "backend",
               "block median (IQR)", "× block with ReLU (q1–q3)",
               "× fastest ReLU block (of)", "activation alone",
               "activation share (q1–q3)", "saved vs ReLU block", "peak vs ReLU block"]
    return ["## Block contexts", "", "The whole block with this activation, timed interleaved "
            "with the same block (same weights) using the backend's ReLU, and against the "
            "fastest ReLU block of any backend (ratio of medians; a backend's ReLU block time is "
            "the median over its ReLU case and every ReLU baseline timed beside its other "
            "cases); the activation alone "
            "at the shape it sees inside the block; its share is the median of per-round ratios "
            "activation/block.", "", md_table([r[1] for r in rows], headers), ""]


def _largest(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows at the largest element count within each group of ``keys``."""
    top = df.groupby(keys, dropna=False)["numel"].transform("max")
    return df[df["numel"] == top]


def _memory_section(cases: list[dict[str, Any]]) -> list[str]:
    rows_in = []
    for c in cases:
        mem = c.get("memory")
        if c.get("status") != "ok" or not isinstance(mem, dict):
            continue
        rows_in.append({
            "context": c.get("context"), "device": c.get("device"), "dtype": c.get("dtype"),
            "threads": c.get("threads"), "allocator": c.get("allocator"),
            "backend": c.get("backend"), "activation": c.get("activation"),
            "label": c.get("label"), "shape": _shape_text(c.get("shape")),
            "numel": int(c.get("numel") or 0), "pass": c.get("pass"), "mem": mem,
        })
    head = ["## Memory", ""]
    if not rows_in:
        return [*head, "No memory figures recorded.", ""]
    df = pd.DataFrame(rows_in)
    keys = ["context", "device", "dtype", "threads", "allocator"]
    df = _largest(df, keys)
    extra = _varying(df)
    passes = [p for p in PASSES if p in set(df["pass"])]
    rows = []
    group_keys = [*keys, "numel", "shape", "label", "backend", "activation"]
    for gk, sub in df.groupby(group_keys, sort=False, dropna=False):
        g = dict(zip(group_keys, gk, strict=True))
        by_pass = {r["pass"]: r["mem"] for _, r in sub.iterrows()}
        saved = by_pass.get("backward") or by_pass.get("forward_backward") or {}
        if saved.get("saved_bytes") is not None:
            saved_x = f"{_num(saved.get('saved_ratio')):.2f}×" if saved.get(
                "saved_ratio") is not None else "–"
            saved_b = fmt_bytes(saved.get("saved_bytes"))
        else:
            saved_x = saved_b = "–"
        peak_src = sorted({str(m.get("peak_source")) for m in by_pass.values()
                           if m.get("peak_source")})
        rows.append([
            g["shape"], g["dtype"], *(g[c] for c in extra), g["label"], g["backend"], saved_x,
            saved_b, saved.get("saved_source") or "–",
            *(fmt_bytes(by_pass[p].get("peak_bytes")) if p in by_pass else "–" for p in passes),
            "; ".join(peak_src) or "–",
        ])
    rows.sort(key=lambda r: (r[0], r[1], r[2 + len(extra)] != "relu", r[2 + len(extra)], r[3]))
    headers = ["shape", "dtype", *extra, "activation", "backend", "saved for backward (× input)",
               "saved bytes", "saved: source",
               *(f"peak {p.replace('forward_backward', 'fwd+bwd')}" for p in passes),
               "peak: source"]
    return [*head, "At the largest shape of each setting. Saved-for-backward bytes are what "
            "autograd keeps between forward and backward (unique storages, measured with saved "
            "tensor hooks, or stated by construction where autograd is not used); peak bytes "
            "are the growth of the process's (CPU) or the device's (CUDA) peak over one call.",
            "", md_table(rows, headers), ""]


def _accuracy_section(cases: list[dict[str, Any]]) -> list[str]:
    acc: dict[tuple[Any, ...], dict[str, float]] = {}
    for c in cases:
        err = c.get("error")
        if not isinstance(err, dict) or c.get("status") not in ("ok", "failed"):
            continue
        key = (c.get("device"), c.get("dtype"), c.get("label"), c.get("backend"),
               c.get("activation"))
        a = acc.setdefault(key, {"fwd": -math.inf, "bwd": -math.inf, "ftol": math.nan,
                                 "btol": math.nan, "n": 0})
        if err.get("forward_eps") is not None:
            a["fwd"] = max(a["fwd"], float(err["forward_eps"]))
        if err.get("backward_eps") is not None:
            a["bwd"] = max(a["bwd"], float(err["backward_eps"]))
        a["ftol"] = _num(err.get("forward_tol"))
        a["btol"] = _num(err.get("backward_tol"))
        a["n"] += 1
    head = ["## Accuracy", ""]
    if not acc:
        return [*head, "No error figures recorded.", ""]
    rows = []
    devices = {k[0] for k in acc}
    for (dev, dt, label, be, _act), a in sorted(
            acc.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][4] != "relu", kv[0][2],
                                         kv[0][3])):
        fwd = a["fwd"] if a["fwd"] > -math.inf else math.nan
        bwd = a["bwd"] if a["bwd"] > -math.inf else math.nan
        over = (np.isfinite(fwd) and fwd > a["ftol"]) or (np.isfinite(bwd) and bwd > a["btol"])
        rows.append([dt, *([dev] if len(devices) > 1 else []), label, be, fmt_eps(fwd),
                     fmt_eps(bwd), f"{a['ftol']:g} / {a['btol']:g}", "OVER" if over else "ok"])
    headers = ["dtype", *(["device"] if len(devices) > 1 else []), "activation", "backend",
               "max forward error (eps)", "max backward error (eps)",
               "tolerance fwd / bwd (eps)", "verdict"]
    return [*head, "Largest error over every shape and pass, in units of the dtype's epsilon, "
            "relative to the float64 reference.", "", md_table(rows, headers), ""]


def _summarize_values(values: Iterable[Any], what: str, limit: int = 3) -> str:
    vals = sorted({str(v) for v in values}, key=lambda s: (len(s), s))
    if len(vals) <= limit:
        return ", ".join(vals)
    return f"{len(vals)} {what}"


def _problem_section(cases: list[dict[str, Any]]) -> list[str]:
    failed = [c for c in cases if c.get("status") == "failed"]
    skipped = [c for c in cases if c.get("status") == "skipped"]
    head = ["## Failed and skipped cases", ""]
    if not cases:
        return [*head, "No cases in these results.", ""]
    if not failed and not skipped:
        return [*head, "None: every case ran.", ""]
    rows = []
    for c in sorted(failed, key=lambda c: str(c.get("case_id"))):
        rows.append(["failed", c.get("backend"), c.get("label"), c.get("dtype"),
                     _shape_text(c.get("shape")), c.get("pass"), "1",
                     c.get("reason") or "(no reason recorded)"])
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in skipped:
        groups.setdefault((c.get("backend"), c.get("reason")), []).append(c)
    for (be, reason), cs in sorted(groups.items(), key=lambda kv: (str(kv[0][0]),
                                                                    str(kv[0][1]))):
        rows.append(["skipped", be, _summarize_values((c.get("label") for c in cs), "activations"),
                     _summarize_values((c.get("dtype") for c in cs), "dtypes"),
                     _summarize_values((_shape_text(c.get("shape")) for c in cs), "shapes"),
                     _summarize_values((c.get("pass") for c in cs), "passes"), str(len(cs)),
                     reason or "(no reason recorded)"])
    headers = ["status", "backend", "activation", "dtype", "shape", "pass", "cases", "reason"]
    return [*head, f"{len(failed)} failed (one row each), {len(skipped)} skipped (grouped by "
            "backend and reason).", "", md_table(rows, headers), ""]


def _fmt_counts(v: Any) -> str:
    """Op counts as ``"Mul×3, Div"``; lists as comma-separated; other values as JSON."""
    if isinstance(v, dict):
        if all(isinstance(x, (int, float)) for x in v.values()):
            return ", ".join(f"{k}×{n}" if n != 1 else str(k) for k, n in sorted(v.items())) \
                or "none"
        return "; ".join(f"{k}: {_fmt_counts(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) or "none"
    return json.dumps(v) if not isinstance(v, str) else v


def _graph_facts(cases: list[dict[str, Any]]) -> list[str]:
    """Graph op counts and transcendental ops, where backends record them (ONNX Runtime)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in cases:
        info = c.get("backend_info")
        if c.get("status") != "ok" or not isinstance(info, dict):
            continue
        if "transcendental_ops" not in info and "nodes_optimized" not in info:
            continue
        key = (c.get("backend"), c.get("label"), c.get("dtype"), c.get("activation"))
        seen.setdefault(key, info)
    if not seen:
        return []
    rows = []
    graphs: list[str] = []
    for info in seen.values():
        for k in ("nodes_optimized", "transcendental_ops"):
            if isinstance(info.get(k), dict):
                graphs += [g for g in info[k] if g not in graphs]
    for (be, label, dt, _act), info in sorted(seen.items(), key=lambda kv: (
            str(kv[0][0]), kv[0][3] != "relu", str(kv[0][1]), str(kv[0][2]))):
        row = [be, label, dt]
        for k in ("nodes_optimized", "transcendental_ops"):
            v = info.get(k)
            if isinstance(v, dict) and graphs:
                row += [_fmt_counts(v[g]) if g in v else "–" for g in graphs]
            else:
                row += [_fmt_counts(v) if v is not None else "–"] + ["–"] * (
                    max(len(graphs), 1) - 1)
        rows.append(row)
    gnames = graphs or ["all"]
    headers = ["backend", "activation", "dtype", *(f"ops after optimisation: {g}" for g in gnames),
               *(f"transcendental ops: {g}" for g in gnames)]
    return ["### Graph operators", "", "Operators in each graph after the backend's own "
            "optimisation, and the transcendental (non-rational) ones among them: a "
            "transcendental-free activation should list none.", "", md_table(rows, headers), ""]


def _backend_facts(cases: list[dict[str, Any]]) -> list[str]:
    """Facts constant across a backend's cases (compile mode, provider, ...) and compile time."""
    skip = {"transcendental_ops", "nodes_optimized", "nodes_built", "unclassified_ops"}
    per_be: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        if c.get("status") == "ok":
            per_be.setdefault(str(c.get("backend")), []).append(c)
    rows = []
    for be, cs in sorted(per_be.items()):
        infos = [c.get("backend_info") or {} for c in cs]
        keys = sorted(set().union(*(i.keys() for i in infos)) - skip)
        const = []
        for k in keys:
            vals = {json.dumps(i.get(k), sort_keys=True) for i in infos}
            if len(vals) == 1 and all(k in i for i in infos):
                v = infos[0][k]
                if not isinstance(v, (dict, list)):
                    const.append(f"{k}={v}")
        compile_t = [_num(_get(c, "derived", "compile_time")) for c in cs]
        compile_t = [t for t in compile_t if np.isfinite(t)]
        comp = (f"{fmt_time(float(np.median(compile_t)))} median, "
                f"{fmt_time(max(compile_t))} max" if compile_t else "–")
        if const or compile_t:
            rows.append([be, str(len(cs)), comp, ", ".join(const) or "–"])
    if not rows:
        return []
    return ["### Backend settings", "", "Facts each backend recorded that are the same for all "
            "its cases, and compile time (first call minus steady-state median).", "",
            md_table(rows, ["backend", "cases", "compile time", "facts"]), ""]


# ---------------------------------------------------------------------------- report


def _stamp(started: str | None) -> str:
    if started:
        try:
            return datetime.fromisoformat(started).strftime("%Y%m%d-%H%M%S")
        except ValueError:
            pass
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def default_report_path(runs: list[tuple[Path, dict[str, Any], list[dict[str, Any]]]]) -> Path:
    """``reports/<suite>-<run start>.md`` (suites joined with ``+`` for several runs)."""
    names: list[str] = []
    for _, run, _ in runs:
        name = str(run.get("suite") or "run")
        if name not in names:
            names.append(name)
    safe = "".join(ch if ch.isalnum() or ch in "-_+." else "_" for ch in "+".join(names))
    return Path("reports") / f"{safe}-{_stamp(runs[0][1].get('started'))}.md"


def _trace_section(cases: list[dict[str, Any]], report_dir: Path) -> list[str]:
    """Links to the torch.profiler Chrome traces of a ``--profile`` run (open in Perfetto or
    chrome://tracing)."""
    rows = []
    for c in cases:
        trace = c.get("trace")
        if not trace:
            continue
        try:
            link = os.path.relpath(trace, report_dir.resolve())
        except ValueError:  # another drive
            link = trace
        rows.append([c.get("context"), c.get("backend"), c.get("label"), c.get("dtype"),
                     _shape_text(c.get("shape")), c.get("pass"), f"[trace]({link})"])
    if not rows:
        return []
    return ["## Profiles", "", "torch.profiler Chrome traces (open in Perfetto or "
            "chrome://tracing):", "",
            md_table(rows, ["context", "backend", "activation", "dtype", "shape", "pass",
                            "trace"]), ""]


def build_report(runs: list[tuple[Path, dict[str, Any], list[dict[str, Any]]]],
                 out: Path) -> str:
    """The markdown text; plots are written next to ``out`` (as ``<stem>-*.png``)."""
    cases: dict[str, dict[str, Any]] = {}
    for _, _, cs in runs:
        for c in cs:
            cases[str(c.get("case_id"))] = c
    all_cases = list(cases.values())
    costs = cost_frame(all_cases)

    names = ", ".join(dict.fromkeys(str(r.get("suite") or "?") for _, r, _ in runs))
    lines = [f"# gembench report: {names}", ""]
    env_rows, env_headers = _env_rows(runs)
    lines += ["## Environment", "", md_table(env_rows, env_headers), ""]
    lines += ["## How to read the cost tables", "",
              "- **× ReLU, same backend (q1–q3)**: median of the per-round ratios case/ReLU, the "
              "two timed interleaved round by round on the same backend; in brackets the "
              "quartiles of those per-round ratios.",
              "- **× fastest ReLU (q1–q3)**: the case's median divided by the median of the "
              "fastest ReLU of any backend in the same setting (device, dtype, shape, pass, "
              "threads, allocator), named in *fastest ReLU*. They were timed in different "
              "rounds, so the spread in brackets is the quartiles of the ratio of every case "
              "sample to every sample of that ReLU (the ratio of two independent draws); it is "
              "wider than the same-backend spread, where drift cancels.",
              "- **median (IQR)**: time per call, with the interquartile range of the samples.",
              "- **of copy BW**: bytes the pass must move over its median time, as a fraction of "
              "the bandwidth of a plain copy of the same size timed alongside it (1 = as fast "
              "as memory allows).", ""]
    lines += _cost_section(costs)
    lines += _block_section(all_cases)
    lines += _memory_section(all_cases)
    lines += _accuracy_section(all_cases)
    lines += _problem_section(all_cases)
    facts = _graph_facts(all_cases) + _backend_facts(all_cases)
    if facts:
        lines += ["## Backend facts", "", *facts]
    lines += _trace_section(all_cases, out.parent)
    lines += ["## Plots", ""]
    try:
        from gembench.report.plots import write_plots

        plots, notes = write_plots(costs, all_cases, out.parent, out.stem)
    except Exception as exc:  # a plot must never cost the report
        plots, notes = [], [f"plots failed: {type(exc).__name__}: {exc}"]
        print(f"gembench: warning: {notes[0]}", file=sys.stderr)
    for title, path in plots:
        lines += [f"- [{title}]({path.name})", "", f"![{title}]({path.name})", ""]
    lines += [f"- {n}" for n in notes]
    if not plots and not notes:
        lines.append("No plots: nothing ran.")
    lines.append("")
    return "\n".join(lines)


def write_report(results: list[Path], out: Path | None = None) -> Path:
    """Write the markdown report of ``results`` (results files or run directories) and its
    plots; return the report's path (default ``reports/<suite>-<run start>.md``)."""
    if not results:
        raise ResultsError("no results files given")
    runs = [load_results(p) for p in results]
    path = Path(out) if out is not None else default_report_path(runs)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = build_report(runs, path)
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["ResultsError", "cost_frame", "load_results", "results_path", "write_report"]
