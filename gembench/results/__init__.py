"""Results: the file format (store: appending, reading, locking, repair), the typed records
(records) and their loading (loading: typed, with the v1 migration)."""

from __future__ import annotations

from gembench.results.loading import load_run, load_tidy, migrate_v1
from gembench.results.records import SCHEMA_VERSION, CaseRecord, RunRecord
from gembench.results.store import (
    ID_COLUMNS,
    METRICS,
    ResultsError,
    ResultsWriter,
    RunLock,
    check_resumable,
    load_results,
    read_records,
    repair_tail,
    results_path,
    scan,
    tidy,
)

__all__ = ["ID_COLUMNS", "METRICS", "SCHEMA_VERSION", "CaseRecord", "ResultsError",
           "ResultsWriter", "RunLock", "RunRecord", "check_resumable", "load_results",
           "load_run", "load_tidy", "migrate_v1", "read_records", "repair_tail", "results_path",
           "scan", "tidy"]
