"""The result schema: a JSON-lines file per run, and a loader into a tidy pandas table.

Line 1 is the run record (``"kind": "run"``): schema version, suite, settings, environment.
Every further line is one case (``"kind": "case"``), appended and flushed as soon as the case
finishes, so an interrupted run loses nothing and ``--resume`` skips what is there.
The fields are documented in ``docs/results-schema.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

#: metric name -> (path inside a case record, unit). The tidy table has one row per case and
#: metric present.
METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "median": (("timing", "median"), "s"),
    "iqr": (("timing", "iqr"), "s"),
    "min": (("timing", "min"), "s"),
    "mean": (("timing", "mean"), "s"),
    "samples": (("timing", "count"), "count"),
    "calls_per_sample": (("timing", "number"), "count"),
    "prealloc_median": (("timing", "prealloc", "median"), "s"),
    "relu_median": (("timing", "relu", "median"), "s"),
    "copy_median": (("timing", "copy", "median"), "s"),
    "ratio_to_relu": (("timing", "ratio_to_relu", "median"), "x"),
    "ratio_to_relu_q1": (("timing", "ratio_to_relu", "q1"), "x"),
    "ratio_to_relu_q3": (("timing", "ratio_to_relu", "q3"), "x"),
    "ratio_to_copy": (("timing", "ratio_to_copy", "median"), "x"),
    "bandwidth": (("derived", "bandwidth"), "B/s"),
    "copy_bandwidth": (("derived", "copy_bandwidth"), "B/s"),
    "bandwidth_fraction": (("derived", "bandwidth_fraction"), "fraction"),
    "elements_per_second": (("derived", "elements_per_second"), "1/s"),
    "first_call": (("derived", "first_call"), "s"),
    "compile_time": (("derived", "compile_time"), "s"),
    "saved_bytes": (("memory", "saved_bytes"), "B"),
    "saved_bytes_input_alias": (("memory", "saved_bytes_input_alias"), "B"),
    "saved_bytes_output_alias": (("memory", "saved_bytes_output_alias"), "B"),
    "saved_ratio": (("memory", "saved_ratio"), "x input"),
    "peak_bytes": (("memory", "peak_bytes"), "B"),
    "forward_error": (("error", "forward_eps"), "eps"),
    "backward_error": (("error", "backward_eps"), "eps"),
    "block_median": (("block", "median"), "s"),
    "activation_share": (("block", "activation_share"), "fraction"),
}

#: case fields copied onto every tidy row.
ID_COLUMNS = [
    "case_id", "status", "context", "backend", "activation", "label", "dtype", "device",
    "shape", "numel", "pass", "threads", "allocator", "reason",
]


class ResultsWriter:
    """Appends records to a results file, flushing and syncing each line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=_jsonable, allow_nan=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results file; a torn last line (killed mid-write) is ignored."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def load_run(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run record and case records of a results file (the last record per case wins)."""
    run: dict[str, Any] = {}
    cases: dict[str, dict[str, Any]] = {}
    for rec in read_records(path):
        if rec.get("kind") == "run":
            if rec.get("schema") != SCHEMA_VERSION:
                raise ValueError(
                    f"{path}: results schema {rec.get('schema')}, this gembench reads "
                    f"{SCHEMA_VERSION}"
                )
            run = run or rec
        elif rec.get("kind") == "case":
            cases[rec["case_id"]] = rec
    return run, list(cases.values())


def _get(rec: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


def tidy(cases: list[dict[str, Any]]) -> Any:
    """A long pandas table: one row per case and metric, with ``metric``, ``value``, ``unit``.

    Cases that did not run (failed, skipped) keep one row with metric ``status``.
    """
    import pandas as pd

    rows = []
    for rec in cases:
        ids = {k: rec.get(k) for k in ID_COLUMNS}
        ids["shape"] = "x".join(str(s) for s in rec.get("shape") or [])
        ids["params"] = json.dumps(rec.get("params", {}), sort_keys=True)
        present = False
        for metric, (path, unit) in METRICS.items():
            value = _get(rec, path)
            if value is None:
                continue
            present = True
            rows.append({**ids, "metric": metric, "value": float(value), "unit": unit})
        if not present:
            rows.append({**ids, "metric": "status", "value": float("nan"), "unit": ""})
    columns = [*ID_COLUMNS, "params", "metric", "value", "unit"]
    return pd.DataFrame(rows, columns=columns)


def load_tidy(path: Path) -> Any:
    """Shortcut: the tidy table of a results file."""
    return tidy(load_run(path)[1])
