"""The results file: JSON lines checked record by record (:func:`scan`), and the tidy table.

Line 1 is the run record (``"kind": "run"``): schema version, suite, settings, environment.
Every further line is one case (``"kind": "case"``), appended and synced as soon as the case
finishes, so an interrupted run loses nothing and ``--resume`` skips what is there.
The fields are documented in ``docs/results-schema.md``.

:func:`scan` skips malformed records with their line number, so the reader
(:func:`gembench.results.loading.read`) hands clean records to every command;
:mod:`gembench.results.writer` appends, repairs and locks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from gembench.results.format import CASE_SCHEMA, ID_COLUMNS, METRICS
from gembench.results.integrity import (  # noqa: F401  (re-exported)
    END_KIND,
    READABLE_SCHEMAS,
    EndTracker,
    end_mark,
    run_notes,
)
from gembench.results.records import SCHEMA_VERSION  # noqa: F401  (re-exported)

RESULTS_NAME = "results.jsonl"


class ResultsError(ValueError):
    """A results file is missing, unreadable, of another schema, or cannot be written; the
    message is one line naming the file."""


# ---------------------------------------------------------------------------- record schemas

_STRING_OR_NULL = {"type": ["string", "null"]}
_OBJECT_OR_NULL = {"type": ["object", "null"]}

RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{k: _STRING_OR_NULL for k in ("suite", "suite_path", "suite_sha256", "started",
                                        "description", "gembench")},
        "timing_policy": _OBJECT_OR_NULL,
        "environment": {"type": ["object", "null"], "properties": {
            k: _OBJECT_OR_NULL for k in ("cpu", "packages", "gpu", "git", "suite",
                                         "allocator_env_of_runner")}},
    },
}

_CASE_VALIDATOR = jsonschema.Draft202012Validator(CASE_SCHEMA)
_RUN_VALIDATOR = jsonschema.Draft202012Validator(RUN_SCHEMA)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_problem(validator: jsonschema.Draft202012Validator, rec: Any) -> str | None:
    """``key.path: what was expected, found what`` for the first schema error, else None."""
    err = next(iter(sorted(validator.iter_errors(rec), key=lambda e: list(e.path))), None)
    if err is None:
        return None
    where = ".".join(str(p) for p in err.absolute_path) or "record"
    if err.validator == "required":
        return f"{where}: {err.message}"
    want = err.validator_value
    expected = (" or ".join(map(str, want)) if isinstance(want, list) else want) \
        if err.validator in ("type", "enum") else f"{err.validator} {want}"
    return f"{where}: expected {expected}, found {_short(err.instance)}"


# ---------------------------------------------------------------------------- reading


@dataclass
class Scan:
    """What a results file holds: the run record, the last record per case, and one line per
    record skipped (``line N: why``)."""

    run: dict[str, Any] = field(default_factory=dict)
    #: every run record (a merged file holds one per source run, each with its ``run_id``)
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: (machine_key or None, case_id) -> the last record of that case on that machine
    cases: dict[tuple[str | None, str], dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: what a reader must be told about the whole file (incomplete, forced schema), one line
    #: each; :func:`load_results` warns with them and reports print them
    notes: list[str] = field(default_factory=list)


def iter_lines(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, parsed JSON or None, problem or None)`` for each non-blank line."""
    with Path(path).open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                yield lineno, None, ("an incomplete last line (an interrupted write), ignored; "
                                     "--resume cuts it off")
                continue
            try:
                yield lineno, json.loads(raw.decode("utf-8")), None
            except UnicodeDecodeError:
                yield lineno, None, "not UTF-8 text, skipped"
            except (ValueError, RecursionError):
                yield lineno, None, "not a JSON record, skipped"


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The well-formed JSON objects of a results file, in order (torn or garbled lines are
    left out)."""
    for _, rec, problem in iter_lines(path):
        if problem is None and isinstance(rec, dict):
            yield rec


def scan(path: Path) -> Scan:
    """Read a results file: the run record (line 1), valid case records (the last per case
    wins) and the problems of every other line. Raises :class:`ResultsError` for a file of
    another schema version or with a malformed run record."""
    out = Scan()
    first = True
    ends = EndTracker()
    for lineno, rec, problem in iter_lines(path):
        if ends.see(lineno, rec, problem):
            continue
        if problem is None and not isinstance(rec, dict):
            problem = f"expected a JSON object, found {type(rec).__name__}, skipped"
        kind = rec.get("kind") if problem is None else None
        if problem is None and kind == "run":
            if first or (out.run.get("run_id") and rec.get("run_id")):  # merged: one per run
                _check_run(path, lineno, rec)
                out.run = out.run or rec
                out.runs.append(rec)
            else:
                problem = "a second run record (two runs wrote into this file?), ignored"
        elif problem is None and kind == "case":
            why = _first_problem(_CASE_VALIDATOR, rec)
            if why is None:
                key = (rec.get("machine_key"), rec["case_id"])
                out.cases.pop(key, None)  # the last record wins, in file order
                out.cases[key] = rec
            else:
                problem = f"malformed case record ({why}), skipped"
        elif problem is None:
            problem = f"unknown record kind {_short(kind)}, skipped"
        first = False
        if problem:
            out.problems.append(f"line {lineno}: {problem}")
    if out.run:
        out.notes += ends.notes(out.run.get("schema"), bool(out.run.get("end_mark"))) + \
            run_notes(out.runs)
    return out


def scan_results(path: Path, refusing: str = "") -> Scan:
    """:func:`scan` of a file that must be a results file: unreadable, or without a run record
    on its first line, is a one-line :class:`ResultsError` (``refusing``: what is refused, as
    ``"; refusing to resume into it"``)."""
    try:
        s = scan(path)
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}{refusing}") from None
    if not s.run:
        raise ResultsError(f"{path}: not a gembench results file (no run record on its first "
                           f"line; expected JSON lines written by `gembench run`){refusing}")
    return s


def file_notes(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The run records of any results file (whatever its schema) and whether it is complete,
    without checking its records (``merge`` reads its sources this way)."""
    ends, runs, schema = EndTracker(), [], None
    for lineno, rec, problem in iter_lines(path):
        if not ends.see(lineno, rec, problem) and isinstance(rec, dict) and \
                rec.get("kind") == "run":
            runs.append(rec)
            schema = runs[0].get("schema")
    return runs, ends.notes(schema, bool(runs[0].get("end_mark"))) if runs else []


def _check_run(path: Path, lineno: int, rec: dict[str, Any]) -> None:
    if rec.get("schema") not in READABLE_SCHEMAS:
        raise ResultsError(f"{path}: results schema {_short(rec.get('schema'))}, this gembench "
                           f"reads schema {', '.join(map(str, READABLE_SCHEMAS))}")
    why = _first_problem(_RUN_VALIDATOR, rec)
    if why:
        raise ResultsError(f"{path}: line {lineno}: malformed run record ({why})")


def results_path(path: Path | str) -> Path:
    """The results file for ``path``: the file itself, or ``results.jsonl`` in a run directory."""
    p = Path(path)
    if p.is_dir():
        inner = p / RESULTS_NAME
        if not inner.is_file():
            raise ResultsError(f"{p}: a directory without {RESULTS_NAME}")
        return inner
    if not p.exists():
        raise ResultsError(f"{p}: no such file or directory")
    if not p.is_file():
        raise ResultsError(f"{p}: not a regular file")
    return p


# ---------------------------------------------------------------------------- tidy table


def _get(rec: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


def tidy(cases: Sequence[Any]) -> Any:
    """A long pandas table of case records (typed or JSON): one row per case and metric, with
    ``metric``, ``value``, ``unit``.

    Cases that did not run (failed, skipped) keep one row with metric ``status``.
    """
    import pandas as pd

    rows = []
    for rec in (c if isinstance(c, dict) else c.to_json() for c in cases):
        ids = {k: rec.get(k) for k in ID_COLUMNS}
        ids["shape"] = "x".join(str(s) for s in rec.get("shape") or [])
        ids["params"] = json.dumps(rec.get("params", {}), sort_keys=True)
        present = False
        for metric, (path, unit) in METRICS.items():
            value = _get(rec, path)
            if value is None:
                continue
            present = True
            rows.append({**ids, "metric": metric, "value": float(value), "unit": unit})
        if not present:
            rows.append({**ids, "metric": "status", "value": float("nan"), "unit": ""})
    columns = [*ID_COLUMNS, "params", "metric", "value", "unit"]
    return pd.DataFrame(rows, columns=columns)
