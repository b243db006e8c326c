"""Exports of a run's figures to the formats that benchmark dashboards read.

``python -m gembench export RESULTS --format FMT [--out FILE]``:

* ``github-action-benchmark``: the action's ``customSmallerIsBetter`` input, a JSON list of
  ``{name, unit, value, range, extra}``. Per case, the entry named by the case id is the
  drift-free figure the action should alert on: the per-round ratio to the anchor ReLU timed
  in the same rounds (blocks: to the backend's ReLU block), ``range`` its quartiles; the median
  time per call (µs, "carries the machine's drift") and the ratio to the backend's ReLU follow
  as separately named entries; ``extra`` carries both ratios to ReLU and the median time.
* ``bmf``: Bencher Metric Format, ``{benchmark: {measure: {value, lower_value, upper_value}}}``
  with the measure ``ratio-to-anchor-relu`` (drift-free: set thresholds on it), the built-in
  ``latency`` (ns: median, q1, q3) and ``ratio-to-relu`` and ``ratio-to-fastest-relu``.
* ``pytest-benchmark``: pytest-benchmark's saved-run JSON, whose statistics are computed by
  pytest-benchmark's own ``Stats`` from the raw per-call samples (so its quartile and outlier
  definitions hold); ratios go to ``extra_info``. Needs the ``pytest-benchmark`` package.

Only cases that ran are exported (failed and skipped ones have no figure); cases measured on a
busy machine are exported and say so in their extra text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from gembench.report.fmt import fmt_ratio_spread, fmt_time
from gembench.report.frames import cost_frame
from gembench.results import CaseRecord, ResultsError, RunRecord
from gembench.results.loading import merged_cases, read_all
from gembench.results.paths import check_out_file, write_whole


class ExportError(Exception):
    """An export that cannot be made (unknown format, missing package)."""


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["median"].map(lambda v: math.isfinite(float(v)) and v > 0)]


def _extra_lines(r: Any) -> list[str]:
    same = fmt_ratio_spread(r["ratio"], r["ratio_q1"], r["ratio_q3"])
    lines = [f"median {fmt_time(r['median'], r['iqr'])}",
             f"x ReLU, same backend (q1-q3): {same}"]
    if r["best_backend"]:
        lines.append(f"x fastest ReLU ({r['best_backend']}): "
                     f"{fmt_ratio_spread(r['cross'], r['cross_q1'], r['cross_q3'])}")
    if r["busy"]:
        lines.append("measured on a busy machine")
    return lines


def _finite_or_none(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite number (a median of 1e305 scaled to µs, a statistic
    that overflowed) replaced by null: an export is always valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def primary(r: Any) -> tuple[str, float, float, float] | None:
    """The drift-free figure a dashboard should alert on: ``(unit, median, q1, q3)`` of the
    per-round ratio to the anchor ReLU, else (blocks) to the backend's ReLU."""
    for unit, col in (("x anchor ReLU", "anchor_ratio"), ("x ReLU (same backend)", "ratio")):
        if _finite_or_none(r[col]) is not None:
            return unit, float(r[col]), float(r[f"{col}_q1"]), float(r[f"{col}_q3"])
    return None


def github_action_benchmark(df: pd.DataFrame, _records: dict[str, CaseRecord],
                            _run: RunRecord) -> list[dict[str, Any]]:
    """``customSmallerIsBetter`` entries: per case, the drift-free ratio under the case's own
    name (what the action's alert compares run to run), then the time per call and the ratio
    to the backend's ReLU as separately named entries."""
    out: list[dict[str, Any]] = []
    for _, r in _ok(df).iterrows():
        extra = "\n".join(_extra_lines(r))
        first = primary(r)
        if first is not None:
            unit, value, q1, q3 = first
            out.append({"name": r["case_id"], "unit": unit, "value": value,
                        "range": f"q1-q3 {q1:.4g}-{q3:.4g}", "extra": extra})
        value = _finite_or_none(float(r["median"]) * 1e6)
        if value is not None:
            out.append({"name": f"{r['case_id']} time (carries the machine's drift)",
                        "unit": "us", "value": value,
                        "range": f"± {float(r['iqr']) * 1e6 / 2:.4g}", "extra": extra})
        if math.isfinite(float(r["ratio"])) and (first is None or first[0] != "x ReLU "
                                                 "(same backend)"):
            out.append({"name": f"{r['case_id']} x ReLU", "unit": "x ReLU (same backend)",
                        "value": float(r["ratio"]),
                        "range": f"q1-q3 {r['ratio_q1']:.4g}-{r['ratio_q3']:.4g}",
                        "extra": extra})
    return out


def bmf(df: pd.DataFrame, _records: dict[str, CaseRecord], _run: RunRecord
        ) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: ``ratio-to-anchor-relu`` (the drift-free measure to set
    thresholds on), ``latency`` (ns, carries the machine's drift) and the two ratios to ReLU
    per case."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for _, r in _ok(df).iterrows():
        measures = {"ratio-to-anchor-relu": (r["anchor_ratio"], r["anchor_ratio_q1"],
                                             r["anchor_ratio_q3"]),
                    "latency": (r["median"] * 1e9, r["q1"] * 1e9, r["q3"] * 1e9),
                    "ratio-to-relu": (r["ratio"], r["ratio_q1"], r["ratio_q3"]),
                    "ratio-to-fastest-relu": (r["cross"], r["cross_q1"], r["cross_q3"])}
        bench: dict[str, dict[str, float]] = {}
        for name, (value, low, high) in measures.items():
            if _finite_or_none(value) is None:
                continue
            metric = {"value": float(value)}
            if _finite_or_none(low) is not None and _finite_or_none(high) is not None:
                metric.update(lower_value=float(low), upper_value=float(high))
            bench[name] = metric
        out[r["case_id"]] = bench
    return out


def pytest_benchmark(df: pd.DataFrame, records: dict[str, CaseRecord],
                     run: RunRecord) -> dict[str, Any]:
    """pytest-benchmark's saved-run JSON, statistics by pytest-benchmark's own ``Stats``."""
    try:
        import pytest_benchmark as pb
        from pytest_benchmark.stats import Stats
    except ImportError:
        raise ExportError("--format pytest-benchmark needs the pytest-benchmark package "
                          "(pip install pytest-benchmark)") from None
    benches = []
    for _, r in _ok(df).iterrows():
        timing = records[r["case_id"]].timing
        samples = (timing.samples if timing else None) or []
        if not samples:
            continue  # no raw samples: pytest-benchmark's statistics cannot be made honestly
        stats = Stats()
        for s in samples:
            stats.update(float(s))
        st = {**stats.as_dict(), "data": [float(s) for s in samples],
              "iterations": int(timing.number or 1)}
        benches.append({
            "group": f"{r['context']} {r['dtype']} {r['shape']} {r['pass']}",
            "name": r["case_id"], "fullname": f"gembench::{r['case_id']}",
            "params": None, "param": None,
            "extra_info": {"ratio_to_relu": _finite_or_none(r["ratio"]),
                           "ratio_to_relu_q1": _finite_or_none(r["ratio_q1"]),
                           "ratio_to_relu_q3": _finite_or_none(r["ratio_q3"]),
                           "ratio_to_fastest_relu": _finite_or_none(r["cross"]),
                           "fastest_relu_backend": r["best_backend"],
                           "machine_busy": bool(r["busy"])},
            "options": {"timer": str(timing.clock or "perf_counter"), "min_rounds": None,
                        "max_time": None, "min_time": None, "warmup": timing.warmup},
            "stats": st})
    env = run.environment or {}
    git = env.get("git") or {}
    return {
        "machine_info": {"node": env.get("hostname"), "processor": (env.get("cpu") or {}).get(
            "brand_raw"), "python_version": env.get("python"), "system": env.get("os"),
            "cpu": env.get("cpu") or {}},
        "commit_info": {"id": git.get("commit"), "dirty": bool(git.get("dirty")),
                        "project": "gembench"},
        "benchmarks": benches,
        "datetime": run.started or datetime.now(timezone.utc).isoformat(),
        "version": pb.__version__,
    }


#: format name -> writer of the JSON value.
FORMATS: dict[str, Callable[[pd.DataFrame, dict[str, CaseRecord], RunRecord], Any]] = {
    "github-action-benchmark": github_action_benchmark,
    "bmf": bmf,
    "pytest-benchmark": pytest_benchmark,
}


def export(results: list[Path], fmt: str) -> Any:
    """The JSON value of ``results`` (results files or run directories) in format ``fmt``."""
    if fmt not in FORMATS:
        raise ExportError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    runs = read_all(results)
    cases = merged_cases(runs)
    records = {c.case_id: c for c in cases}
    return FORMATS[fmt](cost_frame(cases), records, runs[-1][1])


def write_export(results: list[Path], fmt: str, out: Path | None = None) -> str:
    """The export as JSON text, written whole to ``out`` when given (never over one of
    ``results`` or any results file: refused before anything is read)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if out is not None:
        check_out_file(Path(out), results, "--out")
    text = json.dumps(json_safe(export(results, fmt)), indent=1, allow_nan=False,
                      ensure_ascii=False) + "\n"
    # a lone surrogate (an escaped one in a results file) stays a JSON escape, not bad UTF-8
    data = text.encode("utf-8", "backslashreplace")
    if out is not None:
        write_whole(Path(out), data)
    return data.decode("utf-8")


__all__ = ["FORMATS", "ExportError", "ResultsError", "export", "write_export"]
