"""Results: the typed records of a run (``records``) and the JSON-lines file that holds them
(``store``: appending, reading, locking, repair)."""

from __future__ import annotations

from gembench.results.store import (
    ID_COLUMNS,
    METRICS,
    SCHEMA_VERSION,
    ResultsWriter,
    load_run,
    load_tidy,
    read_records,
    tidy,
)

__all__ = ["ID_COLUMNS", "METRICS", "SCHEMA_VERSION", "ResultsWriter", "load_run", "load_tidy",
           "read_records", "tidy"]
