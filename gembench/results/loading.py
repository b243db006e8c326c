"""Typed loading of results files, with the migration of version-1 files.

Version 1 (before the cache state was explicit) interleaved a copy of the case's size between
samples, which left the caches partly evicted: its timings are neither hot nor cold. Migrated
cases get ``cache: "mixed"``; their case ids stay as they were (without the ``/hot`` or
``/cold`` that ends a version-2 id), so they never match a version-2 case in a comparison.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gembench.results.records import SCHEMA_VERSION, CaseRecord, RunRecord
from gembench.results.store import READABLE_SCHEMAS, scan, tidy


def migrate_v1(rec: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record (run or case) as version 2."""
    rec = dict(rec)
    if rec.get("kind") == "run":
        rec["schema"] = SCHEMA_VERSION
        rec["migrated_from"] = 1
    elif rec.get("kind") == "case":
        rec["cache"] = "mixed"
    return rec


def load_run(path: Path | str, problems: list[str] | None = None
             ) -> tuple[RunRecord | None, list[CaseRecord]]:
    """The run record (None if the file has none) and the valid case records of a results file
    as typed records (the last record per case wins); lines skipped by the checks of
    :func:`gembench.results.store.scan` are appended to ``problems`` when given.

    Raises :class:`gembench.results.store.ResultsError` (a ``ValueError``) for a schema
    version this gembench cannot read.
    """
    s = scan(Path(path))
    if problems is not None:
        problems.extend(s.problems)
    run, cases = typed(s.run, list(s.cases.values()))
    return (run if s.run else None), cases


def typed(run: dict[str, Any], cases: list[dict[str, Any]]
          ) -> tuple[RunRecord, list[CaseRecord]]:
    """Validated JSON records as typed records: a version-1 file migrated, the cases of several
    machines qualified (:func:`qualify_machines`)."""
    if run.get("schema") == 1:
        run, cases = migrate_v1(run), [migrate_v1(c) for c in cases]
    return RunRecord.from_json(run), qualify_machines([CaseRecord.from_json(c) for c in cases])


def qualify_machines(cases: list[CaseRecord]) -> list[CaseRecord]:
    """Cases of more than one machine (a merged or Ray file) get ``@machine_key`` on their
    case id, so that no table, ratio, export or comparison pairs timings of two machines."""
    if len({c.machine_key for c in cases}) <= 1:
        return cases
    return [replace(c, case_id=f"{c.case_id}@{c.machine_key or 'unknown'}") for c in cases]


def read_notes(runs: list[tuple[Path, RunRecord, list[CaseRecord]]]) -> list[str]:
    """``FILE: note`` for what every report must say about the files it read: incomplete, or
    holding runs merged incomplete or of an unknown schema (:mod:`gembench.results.integrity`)."""
    return [f"{path}: {note}" for path, run, _ in runs for note in run.read_notes or []]


def load_tidy(path: Path | str) -> Any:
    """The long pandas table (:func:`gembench.results.store.tidy`) of a results file of any
    readable version."""
    return tidy([c.to_json() for c in load_run(path)[1]])


__all__ = ["READABLE_SCHEMAS", "load_run", "load_tidy", "migrate_v1", "qualify_machines",
           "read_notes", "typed"]
