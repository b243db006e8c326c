"""Typed loading of results files, with the migration of version-1 files.

Version 1 (before the cache state was explicit) interleaved a copy of the case's size between
samples, which left the caches partly evicted: its timings are neither hot nor cold. Migrated
cases get ``cache: "mixed"``; their case ids stay as they were (without the ``/hot`` or
``/cold`` that ends a version-2 id), so they never match a version-2 case in a comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gembench.results.records import SCHEMA_VERSION, CaseRecord, RunRecord
from gembench.results.store import read_records, tidy

#: schema versions this gembench reads (older ones are migrated on load).
READABLE = (1, SCHEMA_VERSION)


def migrate_v1(rec: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record (run or case) as version 2."""
    rec = dict(rec)
    if rec.get("kind") == "run":
        rec["schema"] = SCHEMA_VERSION
        rec["migrated_from"] = 1
    elif rec.get("kind") == "case":
        rec["cache"] = "mixed"
    return rec


def load_run(path: Path | str) -> tuple[RunRecord | None, list[CaseRecord]]:
    """The run record (None if the file has none) and case records of a results file (the
    last record per case wins).

    Raises ``ValueError`` for a schema version this gembench cannot read.
    """
    run: RunRecord | None = None
    version = SCHEMA_VERSION
    cases: dict[str, CaseRecord] = {}
    for rec in read_records(Path(path)):
        kind = rec.get("kind")
        if kind == "run":
            if run is not None:
                continue
            version = rec.get("schema")  # type: ignore[assignment]
            if version not in READABLE:
                raise ValueError(f"{path}: results schema {version}, this gembench reads "
                                 f"{', '.join(map(str, READABLE))}")
            run = RunRecord.from_json(migrate_v1(rec) if version == 1 else rec)
        elif kind == "case":
            case = CaseRecord.from_json(migrate_v1(rec) if version == 1 else rec)
            cases[case.case_id] = case
    return run, list(cases.values())


def load_tidy(path: Path | str) -> Any:
    """The long pandas table (:func:`gembench.results.store.tidy`) of a results file of any
    readable version."""
    return tidy([c.to_json() for c in load_run(path)[1]])


__all__ = ["READABLE", "load_run", "load_tidy", "migrate_v1"]
