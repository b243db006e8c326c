"""Results: the typed records of a run (``records``, loaded by ``loading``) and the JSON-lines
file that holds them (``store``: reading and checking it; ``writer``: appending, repair,
locking).

The names below are imported on first use, so that a worker process, which only builds
records, never imports the file checks (jsonschema) or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    **dict.fromkeys(["Run", "merged_cases", "migrate_v1", "read", "read_all"], "loading"),
    **dict.fromkeys(["SCHEMA_VERSION", "CaseRecord", "RunRecord"], "records"),
    **dict.fromkeys(["ID_COLUMNS", "METRICS", "ResultsError", "read_records",
                     "results_path", "scan", "tidy"], "store"),
    **dict.fromkeys(["ResultsWriter", "RunLock", "check_resumable", "repair_tail"], "writer"),
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
