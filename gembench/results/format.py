"""What readers take from a case record, derived from the record types' field metadata (one
description of the format, :mod:`gembench.results.records`): the figures of the tidy table
(:data:`METRICS`: name -> path inside a record and unit) and the JSON schema a case record is
checked against before any reader sees it (:data:`CASE_SCHEMA`)."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from gembench.results.model import Record
from gembench.results.records import CaseIdentity, CaseRecord, Outcome

_NULL = {"type": "null"}
_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               dict: "object", list: "array"}


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``(type, optional)``: an ``X | None`` annotation as X and True."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), len(args) < len(typing.get_args(tp))
    return tp, False


def _record_type(tp: Any) -> type[Record] | None:
    tp, _ = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, Record) else None


def _figures(cls: type[Record], path: tuple[str, ...] = (),
             names: dict[str, str] | None = None) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """``(metric, path, unit)`` of every figure of ``cls``: leaf fields with a ``metric`` (or,
    inside a field with ``metrics``, those it names), and the fields of nested records marked
    ``figures``."""
    hints = typing.get_type_hints(cls)
    for key, f in cls.json_fields():
        sub = _record_type(hints[f.name])
        if sub is not None:
            if "metrics" in f.metadata:
                yield from _figures(sub, (*path, key), f.metadata["metrics"])
            elif f.metadata.get("figures"):
                yield from _figures(sub, (*path, key))
            continue
        name = names.get(f.name) if names is not None else f.metadata.get("metric")
        if name:
            yield name, (*path, key), f.metadata.get("unit") or ""


#: metric name -> (path inside a case record, unit): the tidy table's figures.
METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (path, unit) for name, path, unit in _figures(CaseRecord)}


#: case fields copied onto every row of the tidy table: the identity (parameters as one JSON
#: column), the status and its reason.
ID_COLUMNS: list[str] = ["case_id", "status", *(
    k for k, _ in CaseIdentity.json_fields() if k not in ("kind", "case_id", "params", "preset")),
    "reason"]


def _schema(tp: Any, minimum: float | None = None) -> dict[str, Any]:
    """The JSON schema of a plain annotated value (a string, a number, a list of them, a
    choice of literals), optional values allowing null."""
    tp, optional = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        out: dict[str, Any] = {"enum": list(typing.get_args(tp))}
    else:
        out = {"type": _JSON_TYPES.get(origin or tp, "object")}
        if origin is list and typing.get_args(tp):
            out["items"] = _schema(typing.get_args(tp)[0], minimum)
        elif minimum is not None and out["type"] in ("integer", "number"):
            out["minimum"] = minimum
    return {"anyOf": [out, _NULL]} if optional else out


def _fields_schema(cls: type[Record]) -> dict[str, Any]:
    """Every field declared by ``cls`` itself (not its bases), by JSON key."""
    hints = typing.get_type_hints(cls)
    own = set(cls.__dataclass_fields__) - set(Record.__dataclass_fields__)
    return {key: _schema(hints[f.name], f.metadata.get("minimum"))
            for key, f in cls.json_fields() if f.name in own and _record_type(hints[f.name])
            is None}


def _figures_schema() -> dict[str, Any]:
    """The sections of a case record that hold figures: every figure a number (or null)
    inside objects, at the paths of :data:`METRICS`."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for path, _unit in METRICS.values():
        node = root
        for key in path[:-1]:
            node = node["properties"].setdefault(key, {"type": "object", "properties": {}})
        node["properties"][path[-1]] = {"type": ["number", "null"]}
    timing = root["properties"]["timing"]
    timing["type"] = ["object", "null"]  # a failed case has none; an ok case needs it (below)
    timing["properties"]["samples"] = {"type": "array", "items": {"type": "number"}}
    return root["properties"]


#: a case record as readers need it: its identity and outcome typed as the records declare
#: them, every figure a number; a successful case carries its timing.
CASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["case_id", "status"],
    "properties": {
        **_fields_schema(CaseIdentity),
        "case_id": {"type": "string", "minLength": 1},
        "status": _schema(typing.get_type_hints(Outcome)["status"]),
        "reason": {"type": ["string", "null"]},
        **_figures_schema(),
    },
    "if": {"properties": {"status": {"const": "ok"}}},
    "then": {
        "required": ["timing", "context", "backend", "label", "dtype", "shape", "pass"],
        "properties": {"timing": {
            "type": "object", "required": ["median", "iqr", "count", "ratio_to_relu"],
            "properties": {"median": {"type": "number", "minimum": 0},
                           "ratio_to_relu": {"required": ["median"]}}}},
    },
}

__all__ = ["CASE_SCHEMA", "ID_COLUMNS", "METRICS"]
