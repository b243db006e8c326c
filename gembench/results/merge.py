"""``python -m gembench merge``: one results set from many results files (shards, CI jobs, Ray
nodes), without ever pooling timings of different machines.

A machine is its *fingerprint*: CPU model, logical cores, GPU name, GPU driver, and the gembench
commit it ran (timings of two code versions are no more comparable than two machines). Its key
(``machine_key``, 12 hex digits) goes on every record of the merged file:

- one run record per source run, as it was, plus ``run_id``, ``machine_key``, ``machine`` (the
  fingerprint) and ``merged_from`` (the source file);
- every case record, plus ``run_id`` and ``machine_key`` (a Ray run's case records already carry
  the ``machine_key`` and ``machine`` of the node that measured them). A case id measured twice
  on the same machine keeps its last measurement (in the order the files are given) and the
  merge says so.

Runs of different suites (suite sha256), schema versions or commits are refused unless forced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembench.results.store import read_records
from gembench.results.writer import ResultsWriter

FINGERPRINT_FIELDS = ("cpu", "cores", "gpu", "gpu_driver", "commit")


class MergeError(Exception):
    """The files cannot be merged (or not without ``--force``); the message says why."""


def fingerprint(environment: dict[str, Any] | None) -> dict[str, Any]:
    """The machine fingerprint of a run record's ``environment``."""
    env = environment or {}
    cpu = env.get("cpu") or {}
    gpu = env.get("gpu") or {}
    return {
        "cpu": cpu.get("brand_raw") or cpu.get("arch") or None,
        "cores": env.get("logical_cores"),
        "gpu": gpu.get("name"),
        "gpu_driver": gpu.get("driver"),
        "commit": (env.get("git") or {}).get("commit"),
    }


def machine_key(fp: dict[str, Any]) -> str:
    text = json.dumps({k: fp.get(k) for k in FINGERPRINT_FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_label(fp: dict[str, Any]) -> str:
    """A short human name for a fingerprint, e.g. ``AMD EPYC 7B13 x2, no GPU @ 2c477ab``."""
    gpu = f"{fp['gpu']} (driver {fp.get('gpu_driver')})" if fp.get("gpu") else "no GPU"
    commit = (fp.get("commit") or "unknown")[:7]
    return f"{fp.get('cpu') or 'unknown CPU'} x{fp.get('cores')}, {gpu} @ {commit}"


@dataclass
class Source:
    """One results file: its run records and its case records (last per case id and machine)."""

    path: Path
    runs: list[dict[str, Any]]
    cases: list[dict[str, Any]]


def _results_file(path: Path) -> Path:
    return path / "results.jsonl" if path.is_dir() else path


def load_source(path: Path) -> Source:
    file = _results_file(Path(path))
    if not file.is_file():
        raise MergeError(f"{file}: no such results file")
    runs: list[dict[str, Any]] = []
    cases: dict[tuple[str | None, str], dict[str, Any]] = {}
    for rec in read_records(file):
        kind = rec.get("kind")
        if kind == "run":
            rec = dict(rec)
            if "machine_key" not in rec:  # a plain run: fingerprint it
                rec["machine"] = fingerprint(rec.get("environment"))
                rec["machine_key"] = machine_key(rec["machine"])
            rec.setdefault("run_id", hashlib.sha256(
                json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:12])
            rec.setdefault("merged_from", str(file))
            runs.append(rec)
        elif kind == "case" and runs:
            rec = {"run_id": runs[-1]["run_id"], "machine_key": runs[-1]["machine_key"],
                   "machine": runs[-1]["machine"], **rec}
            cases.pop((rec["machine_key"], rec["case_id"]), None)
            cases[(rec["machine_key"], rec["case_id"])] = rec
    if not runs:
        raise MergeError(f"{file}: no run record (line 1 of a results file); not a gembench "
                         "results file?")
    return Source(file, runs, list(cases.values()))


def _check_same(sources: list[Source], what: str, get: Any, force: bool) -> None:
    first = sources[0]
    for src in sources[1:]:
        for run in src.runs:
            if get(run) != get(first.runs[0]) and not force:
                raise MergeError(
                    f"{src.path}: {what} {get(run)!r}, but {first.path} has "
                    f"{get(first.runs[0])!r}; refusing to merge (pass --force to merge anyway)")


@dataclass
class Merged:
    """What a merge wrote: file, counts, the machines, and the duplicates it resolved."""

    path: Path
    runs: int
    cases: int
    machines: dict[str, str] = field(default_factory=dict)  # key -> label
    duplicates: list[tuple[str, str, Path]] = field(default_factory=list)  # id, key, kept from


def merge(paths: list[Path], out_dir: Path, *, force: bool = False) -> Merged:
    """Merge results files (or run directories) into ``out_dir/results.jsonl``."""
    sources = [load_source(Path(p)) for p in paths]
    _check_same(sources, "schema version", lambda r: r.get("schema"), force)
    _check_same(sources, "suite sha256", lambda r: r.get("suite_sha256"), force)
    _check_same(sources, "commit", lambda r: r["machine"].get("commit"), force)
    out = Path(out_dir) / "results.jsonl"
    if out.exists() and out.stat().st_size:
        raise MergeError(f"{out} exists; choose another --out")
    machines: dict[str, dict[str, Any]] = {}
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    duplicates: list[tuple[str, str, Path]] = []
    for src in sources:
        for run in src.runs:
            machines.setdefault(run["machine_key"], run["machine"])
        for rec in src.cases:
            if "machine" in rec:
                machines.setdefault(rec["machine_key"], rec["machine"])
            key = (rec["machine_key"], rec["case_id"])
            if cases.pop(key, None) is not None:
                duplicates.append((rec["case_id"], rec["machine_key"], src.path))
            cases[key] = rec
    writer = ResultsWriter(out)
    for src in sources:
        for run in src.runs:
            writer.append(run)
    for rec in cases.values():
        writer.append(rec)
    return Merged(out, sum(len(s.runs) for s in sources), len(cases),
                  {k: machine_label(fp) for k, fp in machines.items()}, duplicates)


__all__ = ["MergeError", "Merged", "fingerprint", "load_source", "machine_key", "machine_label",
           "merge"]
