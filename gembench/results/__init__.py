"""Results: the typed records of a run (``records``) and the JSON-lines file that holds them
(``store``: appending, reading, locking, repair)."""

from __future__ import annotations

from gembench.results.store import (
    ID_COLUMNS,
    METRICS,
    SCHEMA_VERSION,
    ResultsError,
    ResultsWriter,
    RunLock,
    check_resumable,
    load_results,
    load_run,
    load_tidy,
    read_records,
    repair_tail,
    results_path,
    scan,
    tidy,
)

__all__ = ["ID_COLUMNS", "METRICS", "SCHEMA_VERSION", "ResultsError", "ResultsWriter",
           "RunLock", "check_resumable", "load_results", "load_run", "load_tidy",
           "read_records", "repair_tail", "results_path", "scan", "tidy"]
