"""Documented dataclass fields: one line of documentation per field, kept in the field's
metadata, from which the results schema (``docs/results-schema.md``) and the record of a case's
identity are generated. Below the plan, so that :class:`gembench.spec.cases.Case` documents its
fields where it declares them."""

from __future__ import annotations

import dataclasses
from typing import Any

#: ``doc(text, REQUIRED)``: a field without a default.
REQUIRED: Any = dataclasses.MISSING


def doc(text: str, default: Any = None, *, factory: Any = None, key: str | None = None,
        **meta: Any) -> dataclasses.Field[Any]:
    """A documented field (``key``: its JSON name when that is not the attribute's). ``meta``
    says more to the readers of the format: ``metric`` and ``unit`` (a figure of the tidy
    table), ``metrics`` (a nested record's figures, child field -> metric name),
    ``minimum`` (the least valid number)."""
    meta = {"doc": text, "key": key, **meta}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)  # MISSING: required


__all__ = ["REQUIRED", "doc"]
