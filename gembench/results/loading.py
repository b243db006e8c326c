"""Reading results files: :func:`read`, the one reader (typed records, version-1 files
migrated), and the runs it gives (:class:`Run`).

Version 1 (before the cache state was explicit) interleaved a copy of the case's size between
samples, which left the caches partly evicted: its timings are neither hot nor cold. Migrated
cases get ``cache: "mixed"``; their case ids stay as they were (without the ``/hot`` or
``/cold`` that ends a version-2 id), so they never match a version-2 case in a comparison.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from gembench.results.records import SCHEMA_VERSION, CaseRecord, RunRecord
from gembench.results.store import READABLE_SCHEMAS, ResultsError, results_path, scan_results


def migrate_v1(rec: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record (run or case) as version 2."""
    rec = dict(rec)
    if rec.get("kind") == "run":
        rec["schema"] = SCHEMA_VERSION
        rec["migrated_from"] = 1
    elif rec.get("kind") == "case":
        rec["cache"] = "mixed"
    return rec


class Run(NamedTuple):
    """One results file, read: where it is, its run record and its case records (typed; the
    last record per case wins)."""

    path: Path
    run: RunRecord
    cases: list[CaseRecord]


def read(path: Path | str, *, problems: list[str] | None = None,
         warn: Callable[[str], None] | None = None) -> Run:
    """The one reader of results files: ``path`` is a results file or a run directory.

    Lines the checks skip (torn, malformed, damaged) and what the file says about itself
    (incomplete, merged from an unknown schema) go to ``problems`` when given, else to
    ``warn`` (default: printed to stderr, five at most, then a count). Raises
    :class:`~gembench.results.store.ResultsError`, one line naming the file, when it is not a
    results file this gembench can read. Version-1 files are migrated.
    """
    p = results_path(path)
    s = scan_results(p)
    run = {**s.run, "read_notes": s.notes} if s.notes else s.run
    if problems is not None:  # the lines skipped, as ``line N: why``
        problems.extend(s.problems)
    else:
        lines = [f"{p}: {note}" for note in s.notes] + [f"{p}: {why}" for why in s.problems]
        shown = lines[:len(s.notes) + 5]
        if len(lines) > len(shown):
            shown.append(f"{p}: ... and {len(lines) - len(shown)} more lines skipped")
        for line in shown:
            (warn or _warn_stderr)(line)
    return Run(p, *typed(run, list(s.cases.values())))


def read_all(paths: Sequence[Path | str]) -> list[Run]:
    """Each results file or run directory, read; :class:`ResultsError` when none or one bad."""
    if not paths:
        raise ResultsError("no results files given")
    return [read(p) for p in paths]


def merged_cases(runs: Sequence[Run]) -> list[CaseRecord]:
    """Every case of ``runs``; a case id seen twice keeps its last record."""
    cases: dict[str, CaseRecord] = {}
    for run in runs:
        for c in run.cases:
            cases[c.case_id] = c
    return list(cases.values())


def _warn_stderr(line: str) -> None:
    print(f"gembench: warning: {line}", file=sys.stderr)


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


__all__ = ["READABLE_SCHEMAS", "Run", "merged_cases", "migrate_v1", "qualify_machines", "read",
           "read_all", "read_notes", "typed"]
