"""Whether a results file is complete, and what its run records say against it.

A complete file ends with an end mark (:func:`end_mark`) that counts every record before it;
``run`` writes one when every case is recorded, ``merge`` with every merged file. A merged file's
run records also say when a source was incomplete or of a schema this gembench cannot read
(merged with ``--force``). Readers print these notes (:func:`gembench.results.store.scan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gembench.results.records import SCHEMA_VERSION

#: schema versions the loader reads (version 1 is migrated by :mod:`gembench.results.loading`).
READABLE_SCHEMAS = (1, SCHEMA_VERSION)
#: kind of the last record of a complete file (:func:`end_mark`)
END_KIND = "end"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def end_mark(records: int) -> dict[str, Any]:
    """The record that ends a complete results file: it counts the records before it."""
    return {"kind": END_KIND, "records": records}


@dataclass
class EndTracker:
    """Follows a file's lines to tell whether it is complete: its last line an end mark that
    counts every record before it (:func:`end_mark`)."""

    records: int = 0
    last: int = 0
    end: tuple[int, Any, int] | None = None  # (line, records it says, records before it)

    def see(self, lineno: int, rec: Any, problem: str | None) -> bool:
        """Count one line; True when it is an end mark."""
        self.last = lineno
        if problem is None and isinstance(rec, dict) and rec.get("kind") == END_KIND:
            self.end = (lineno, rec.get("records"), self.records)
            return True
        self.records += 1
        return False

    def notes(self, schema: Any) -> list[str]:
        """Why the file is not known to be complete (version-1 files predate end marks and
        are not judged)."""
        if schema == 1:
            return []
        if self.end is None:
            return ["incomplete: no end mark (the run or merge that wrote it did not finish, "
                    "or was made by a gembench before end marks); cases may be missing"]
        lineno, said, found = self.end
        if lineno != self.last:
            return [f"incomplete: records after its end mark (line {lineno}): a --resume that "
                    "did not finish; cases may be missing"]
        if said != found:
            return [f"incomplete: its end mark counts {_short(said)} records, the file holds "
                    f"{found}; lines were lost or damaged"]
        return []


def run_notes(runs: list[dict[str, Any]]) -> list[str]:
    """What the run records of a merged file say against it: a source merged incomplete, or of
    a schema this gembench does not read (merged with ``--force``)."""
    out = []
    for r in runs:
        where = f"run {r.get('run_id')} (from {_short(r.get('merged_from'), 80)})"
        if r.get("incomplete"):
            out.append(f"{where} was merged {_short(r['incomplete'], 200)}")
        if r.get("source_schema") not in (None, *READABLE_SCHEMAS):
            out.append(f"{where} is of results schema {_short(r['source_schema'])}, merged "
                       "with --force: its records may be misread")
    return out


__all__ = ["END_KIND", "READABLE_SCHEMAS", "EndTracker", "end_mark", "run_notes"]
