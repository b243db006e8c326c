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

Runs of different suites (suite sha256), schema versions or commits, and files of a schema this
gembench cannot read, are refused unless forced (a forced one is named in every report). A
version-1 source is migrated as it is read (its cases ``cache: "mixed"``), so each case keeps
its own cache state; a run read twice (the same file given twice, or a merged file and one of its
sources) is kept once. The merged file is written whole and renamed into place with an end mark,
so a killed merge leaves no merged file and can simply be run again; a source that was
incomplete is said so in the merged file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gembench.results.integrity import READABLE_SCHEMAS, EndTracker, end_mark
from gembench.results.loading import migrate_v1
from gembench.results.paths import check_out_dir, shown, write_whole
from gembench.results.records import SCHEMA_VERSION
from gembench.results.store import ResultsError, file_notes, iter_lines
from gembench.results.writer import RunLock

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
    """One results file: its run records, its valid case records (the last per case id and
    machine), how many records were skipped, and why it is incomplete (or None)."""

    path: Path
    runs: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    skipped: int = 0
    incomplete: str | None = None


def _results_file(path: Path) -> Path:
    file = path / "results.jsonl" if path.is_dir() else path
    if not file.exists():
        raise MergeError(f"{shown(file)}: no such results file")
    if not file.is_file():
        raise MergeError(f"{shown(file)}: not a regular file")
    return file


def _run_record(rec: dict[str, Any], file: Path, force: bool) -> dict[str, Any]:
    """A source's run record as the merged file keeps it: version 2 (a version-1 record
    migrated; an unreadable schema only with ``force``, and marked), fingerprinted, with its
    ``run_id`` and ``merged_from``."""
    schema = rec.get("schema")
    if schema not in READABLE_SCHEMAS or isinstance(schema, bool):
        if not force:
            raise MergeError(f"{shown(file)}: results schema {schema!r}; this gembench reads "
                             f"{', '.join(map(str, READABLE_SCHEMAS))} (pass --force to merge "
                             "it anyway; every report will say so)")
        rec = {**rec, "source_schema": schema, "schema": SCHEMA_VERSION}
    elif schema == 1:
        rec = migrate_v1(rec)
    rec = dict(rec)
    if "machine_key" not in rec:  # a plain run: fingerprint it
        rec["machine"] = fingerprint(rec.get("environment"))
        rec["machine_key"] = machine_key(rec["machine"])
    rec.setdefault("run_id", hashlib.sha256(
        json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:12])
    rec.setdefault("merged_from", str(file))
    return rec


def load_source(path: Path, force: bool = False) -> Source:
    """Read one results file (or run directory) for merging."""
    file = _results_file(Path(path))
    src = Source(file, [], [])
    cases: dict[tuple[str | None, str], dict[str, Any]] = {}
    ends, v1 = EndTracker(), False
    try:
        for lineno, rec, problem in iter_lines(file):
            if ends.see(lineno, rec, problem):
                continue
            kind = rec.get("kind") if problem is None and isinstance(rec, dict) else None
            if kind == "run" and (not src.runs or "run_id" in rec):
                v1 = rec.get("schema") == 1
                src.runs.append(_run_record(rec, file, force))
            elif kind == "case" and src.runs and isinstance(rec.get("case_id"), str):
                last = src.runs[-1]
                rec = {"run_id": last["run_id"], "machine_key": last["machine_key"],
                       "machine": last["machine"], **(migrate_v1(rec) if v1 else rec)}
                cases.pop((rec["machine_key"], rec["case_id"]), None)
                cases[(rec["machine_key"], rec["case_id"])] = rec
            elif lineno > 1 or kind != "run":
                src.skipped += 1
    except OSError as exc:
        raise MergeError(f"{shown(file)}: cannot read: {exc.strerror or exc}") from None
    if not src.runs:
        raise MergeError(f"{shown(file)}: no run record (line 1 of a results file); not a "
                         "gembench results file?")
    notes = ends.notes(1 if v1 and len(src.runs) == 1 else 2)
    src.incomplete = notes[0] if notes else None
    src.cases = list(cases.values())
    return src


def _original_schema(run: dict[str, Any]) -> Any:
    return run.get("source_schema", run.get("migrated_from", run.get("schema")))


def _check_same(sources: list[Source], what: str, get: Any, force: bool) -> None:
    first = sources[0]
    for src in sources[1:]:
        for run in src.runs:
            if get(run) != get(first.runs[0]) and not force:
                raise MergeError(
                    f"{shown(src.path)}: {what} {get(run)!r}, but {shown(first.path)} has "
                    f"{get(first.runs[0])!r}; refusing to merge (pass --force to merge anyway)")


@dataclass
class Merged:
    """What a merge wrote: file, counts, the machines, the duplicates it resolved, the records
    it skipped, the sources that were incomplete, and whether the file was already there."""

    path: Path
    runs: int
    cases: int
    machines: dict[str, str] = field(default_factory=dict)  # key -> label
    duplicates: list[tuple[str, str, Path]] = field(default_factory=list)  # id, key, kept from
    skipped: int = 0
    incomplete: list[str] = field(default_factory=list)  # "FILE: why"
    unchanged: bool = False


def _combine(sources: list[Source]) -> tuple[list[dict[str, Any]], Merged]:
    """The records of the merged file: run records (once per run id), then cases (the last per
    machine and case id); and what was merged, as a :class:`Merged` without its path."""
    runs: dict[str, dict[str, Any]] = {}
    machines: dict[str, dict[str, Any]] = {}
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    done = Merged(Path(), 0, 0)
    for src in sources:
        for run in src.runs:
            run = runs.setdefault(run["run_id"], run)
            if src.incomplete and not run.get("incomplete"):
                run["incomplete"] = src.incomplete
            machines.setdefault(run["machine_key"], run["machine"])
        for rec in src.cases:
            if "machine" in rec:
                machines.setdefault(rec["machine_key"], rec["machine"])
            key = (rec["machine_key"], rec["case_id"])
            old = cases.pop(key, None)
            if old is not None and old.get("run_id") != rec.get("run_id"):
                done.duplicates.append((rec["case_id"], rec["machine_key"], src.path))
            cases[key] = rec
        done.skipped += src.skipped
        if src.incomplete:
            done.incomplete.append(f"{src.path}: {src.incomplete}")
    done.runs, done.cases = len(runs), len(cases)
    done.machines = {k: machine_label(fp) for k, fp in machines.items()}
    return [*runs.values(), *cases.values()], done


def _serialise(records: list[dict[str, Any]]) -> bytes:
    lines = [json.dumps(r, allow_nan=True, default=str) for r in records]
    lines.append(json.dumps(end_mark(len(records))))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def merge(paths: list[Path], out_dir: Path, *, force: bool = False) -> Merged:
    """Merge results files (or run directories) into ``out_dir/results.jsonl``."""
    out_dir = Path(out_dir)
    try:
        check_out_dir(out_dir, paths, "--out")
        sources = [load_source(Path(p), force) for p in paths]
        _check_same(sources, "schema version", _original_schema, force)
        _check_same(sources, "suite sha256", lambda r: r.get("suite_sha256"), force)
        _check_same(sources, "commit", lambda r: r["machine"].get("commit"), force)
        records, done = _combine(sources)
        data = _serialise(records)
        done.path = out_dir / "results.jsonl"
        out_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(out_dir):
            done.unchanged = _replaceable(done.path, data)
            if not done.unchanged:
                write_whole(done.path, data)
    except ResultsError as exc:
        raise MergeError(str(exc)) from None
    except OSError as exc:
        raise MergeError(f"--out {shown(out_dir)}: {exc.strerror or exc}") from None
    return done


def _replaceable(out: Path, data: bytes) -> bool:
    """True when ``out`` already holds exactly ``data`` (a merge run again); raises
    :class:`MergeError` when it holds anything but an incomplete merged file."""
    if not out.exists() or (out.is_file() and out.stat().st_size == 0):
        return False
    if out.is_file() and out.read_bytes() == data:
        return True
    runs, notes = file_notes(out) if out.is_file() else ([], [])
    if runs and notes and all("merged_from" in r for r in runs):
        return False  # a merge an older gembench left half-written: replaced
    raise MergeError(f"{shown(out)} exists; choose another --out")


__all__ = ["MergeError", "Merged", "fingerprint", "load_source", "machine_key", "machine_label",
           "merge"]
