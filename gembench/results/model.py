"""The machinery behind the typed results records: documented fields and JSON round trips.

A record is a keyword-only dataclass deriving from :class:`Record`. Every field carries a
one-line ``doc`` (used to generate ``docs/results-schema.md``); ``to_json`` drops fields that
are ``None`` and keeps unknown keys of the file in ``extra`` so a round trip loses nothing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from gembench.spec.fields import REQUIRED, doc

R = TypeVar("R", bound="Record")


@dataclass(kw_only=True)
class Record:
    """Base of every results record."""

    extra: dict[str, Any] = dataclasses.field(
        default_factory=dict, repr=False, compare=False,
        metadata={"doc": "keys of the file this gembench does not know (kept, not read)",
                  "internal": True})

    #: JSON key -> attribute name, per class (filled on first use).
    _keys: ClassVar[dict[type, dict[str, str]]] = {}

    @classmethod
    def json_fields(cls) -> list[tuple[str, dataclasses.Field[Any]]]:
        """(JSON key, field) for every documented field, in declaration order."""
        return [(f.metadata.get("key") or f.name, f) for f in fields(cls)
                if not f.metadata.get("internal")]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, f in self.json_fields():
            value = getattr(self, f.name)
            if value is not None:
                out[key] = _dump(value)
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls: type[R], data: dict[str, Any]) -> R:
        hints = _hints(cls)
        names = cls._key_map()
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                known[names[key]] = _load(hints[names[key]], value)
            else:
                extra[key] = value
        return cls(**known, extra=extra)

    @classmethod
    def _key_map(cls) -> dict[str, str]:
        if cls not in Record._keys:
            Record._keys[cls] = {key: f.name for key, f in cls.json_fields()}
        return Record._keys[cls]

    # Transitional dict-style reads, for code not yet converted to attributes (report,
    # summary, compare): ``rec["timing"]["median"]`` reads ``rec.timing.median``.
    def get(self, key: str, default: Any = None) -> Any:
        name = self._key_map().get(key)
        if name is None:
            return self.extra.get(key, default)
        value = getattr(self, name)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _load(tp: Any, value: Any) -> Any:
    """A JSON value as the annotated type: nested records, tuples; the rest as it is."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, Record) and isinstance(value, dict):
        return tp.from_json(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp) or (Any,)
        return [_load(item, v) for v in value]
    return value


def type_name(tp: Any) -> str:
    """A short readable name of an annotation (for the generated schema document)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`"
                          for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


__all__ = ["REQUIRED", "Record", "doc", "type_name"]
