"""The runs a report reads: results files loaded (``gembench.results``) as typed records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gembench.results import CaseRecord, ResultsError, RunRecord, load_results
from gembench.results.loading import typed

#: (results file, run record, case records)
Run = tuple[Path, RunRecord, list[CaseRecord]]


def load_typed(path: Path | str) -> Run:
    """One results file or run directory; :class:`ResultsError` when it is not one."""
    p, run, cases = load_results(path)
    return (p, *typed(run, cases))


def load_runs(results: Sequence[Path | str]) -> list[Run]:
    """Each results file or run directory, loaded; :class:`ResultsError` when none or bad."""
    if not results:
        raise ResultsError("no results files given")
    return [load_typed(p) for p in results]


def merged_cases(runs: Sequence[Run]) -> list[CaseRecord]:
    """Every case of ``runs``; a case id seen twice keeps its last record."""
    cases: dict[str, CaseRecord] = {}
    for _, _, cs in runs:
        for c in cs:
            cases[c.case_id] = c
    return list(cases.values())


__all__ = ["Run", "load_runs", "load_typed", "merged_cases"]
