"""The JSON schema of suite files, its validator, and one-line descriptions of its errors.

Integers are strict (``1.0`` is not an integer and ``true`` is not a number) and numbers are
finite, so nothing that passes validation can fail later as the wrong type; an exactly
integral float where the schema wants an integer (``shapes: [1e6]``, ``seed: 1.0``) is
converted to that integer first, the same way for every integer key (:func:`coerce`).
"""

from __future__ import annotations

import math
from typing import Any

import jsonschema

from gembench.activations.dtypes import DTYPES
from gembench.backends import backend_names
from gembench.spec.cases import CACHE_STATES, PASSES
from gembench.spec.contexts import context_names, context_spec

#: the largest values accepted where a value has a physical meaning (bounds keep a typo such
#: as ``timeout_s: 1e300`` from reaching the clocks and the operating system).
MAX_TIMEOUT_S = 7 * 24 * 3600.0
MAX_BUDGET_S = 24 * 3600.0
MAX_SWEEP_EXPONENT = 40
MAX_DIM = 1 << 40
MAX_SAMPLES = 10_000_000
MAX_THREADS = 4096
MAX_SEED = 2**32 - 1  # numpy's seed range


def _int(minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _num(maximum: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
    if maximum is not None:
        out["maximum"] = maximum
    return out


_POS_INT = _int(1, MAX_DIM)
_LIST_OR_ONE = lambda item: {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}  # noqa: E731
#: keys a group may not override.
SUITE_ONLY = ("name", "description", "seed", "plugins", "likeness")


def schema() -> dict[str, Any]:
    """The JSON schema of suite files (built on call: backends may come from plugins)."""
    top = _schema()
    group = {"type": "object", "additionalProperties": False,
             "properties": {k: v for k, v in top["properties"].items() if k not in SUITE_ONLY}}
    top["properties"]["groups"] = {"type": "array", "minItems": 1, "items": group}
    top["required"] = []
    return top


def _timing_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "budget_s": _num(MAX_BUDGET_S),
            "min_samples": _int(3, MAX_SAMPLES),
            "max_samples": _int(3, MAX_SAMPLES),
            "warmup": _int(0, MAX_SAMPLES),
            "target_precision": _num(),
            "min_sample_time_s": _num(60.0),
            "hot_warmup_s": _num(60.0),
            "timeout_s": _num(MAX_TIMEOUT_S),
            "error_elements": _int(1, 1 << 31),
            "cuda_graphs": {"type": "boolean"},
            "retry_busy": _int(0, 100),
        },
    }


def _shape_schema() -> dict[str, Any]:
    sweep = _int(0, MAX_SWEEP_EXPONENT)
    return {
        "anyOf": [
            {"enum": sorted({n for c in context_names() for n in context_spec(c).presets})},
            _POS_INT,
            {"type": "array", "items": _POS_INT, "minItems": 1, "maxItems": 8},
            {"type": "object", "additionalProperties": False, "required": ["sweep"],
             "properties": {"sweep": {"type": "array", "items": sweep, "minItems": 2,
                                      "maxItems": 2}}},
        ]
    }


def _activation_schema() -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "params": {"type": "object",
                               "additionalProperties": _LIST_OR_ONE({"type": "number"})},
                },
            },
        ]
    }


def _schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["activations", "backends"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "plugins": _LIST_OR_ONE({"type": "string"}),  # modules registering implementations
            "likeness": {"type": "boolean"},  # add the ReLU-likeness table to the report
            "context": {"enum": context_names()},
            "activations": {"type": "array", "minItems": 1, "items": _activation_schema()},
            "backends": {"anyOf": [{"const": "all"}, {"type": "array", "minItems": 1,
                                                      "items": {"enum": backend_names()}}]},
            "shapes": {"type": "array", "minItems": 1, "items": _shape_schema()},
            "dtypes": _LIST_OR_ONE({"enum": list(DTYPES)}),
            "devices": _LIST_OR_ONE({"enum": ["cpu", "cuda", "auto"]}),
            "passes": _LIST_OR_ONE({"enum": list(PASSES)}),
            "threads": _LIST_OR_ONE(_int(1, MAX_THREADS)),
            "allocator": _LIST_OR_ONE({"enum": ["default", "caching"]}),
            "cache": _LIST_OR_ONE({"enum": list(CACHE_STATES)}),
            "seed": _int(0, MAX_SEED),
            "timing": _timing_schema(),
        },
    }


# ---------------------------------------------------------------------------- validation


def _is_integer(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker: Any, value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}),
)


def coerce(data: Any, sch: dict[str, Any]) -> Any:
    """``data`` with every exactly integral float where ``sch`` wants an integer made that
    integer (``1e6`` -> ``1000000``); anything else is left for validation to judge."""
    if isinstance(data, float) and sch.get("type") == "integer":
        return int(data) if data.is_integer() else data
    if "anyOf" in sch:
        for sub in sch["anyOf"]:
            candidate = coerce(data, sub)
            if Validator(sub).is_valid(candidate):
                return candidate
        return data
    if isinstance(data, dict):
        props, extra = sch.get("properties", {}), sch.get("additionalProperties")
        return {k: coerce(v, props.get(k, extra if isinstance(extra, dict) else {}))
                for k, v in data.items()}
    if isinstance(data, list) and isinstance(sch.get("items"), dict):
        return [coerce(v, sch["items"]) for v in data]
    return data


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_path(parts: Any) -> str:
    """``timing.budget_s``, ``shapes[0][1]``: a key path as a suite author reads it."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def first_error(data: Any) -> str | None:
    """``key.path: what was expected, found what`` for the error deepest in ``data``."""
    errors = list(Validator(schema()).iter_errors(data))
    if not errors:
        return None
    err = _deepest(max(errors, key=lambda e: len(e.absolute_path)))
    return f"{key_path(err.absolute_path)}: {_describe(err)}"


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For 'none of these alternatives' errors, the sub-error that got furthest into the data."""
    while err.context:
        sub = max(err.context, key=lambda e: len(e.absolute_path))
        if len(sub.absolute_path) <= len(err.absolute_path):
            break
        err = sub
    return err


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _describe(err: jsonschema.ValidationError) -> str:
    found = err.instance
    kind = type(found).__name__
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(str(k) for k in found if k not in allowed) if isinstance(found, dict) \
            else []
        return f"unknown key {short(extra[0] if extra else '?')}; expected one of " \
               f"{', '.join(allowed)}"
    if err.validator == "required":
        return err.message
    if err.validator == "enum":
        return f"expected one of {', '.join(map(str, err.validator_value))}, found {short(found)}"
    if err.validator == "anyOf":
        return f"found {short(found)} ({kind}), which is not " \
               f"{_anyof_text(err.schema, isinstance(found, str))}"
    if err.validator == "type":
        want = err.validator_value
        if isinstance(found, float) and not math.isfinite(found):
            want = f"a finite {want}"
        return f"expected {want}, found {short(found)} ({kind})"
    if err.validator in _BOUNDS:
        return f"expected a value {_BOUNDS[err.validator]} {err.validator_value:g}, " \
               f"found {short(found)}"
    if err.validator in ("minItems", "maxItems"):
        return f"expected {'at least' if err.validator == 'minItems' else 'at most'} " \
               f"{err.validator_value} items, found {len(found)}"
    return short(err.message, 200)


def _anyof_text(sch: dict[str, Any], names: bool) -> str:
    """The alternatives of an ``anyOf``; long lists of names only when a name was given."""
    kinds = []
    for sub in sch.get("anyOf", []):
        if "enum" in sub:
            kinds.append("one of " + ", ".join(map(str, sub["enum"])) if names
                         or len(sub["enum"]) < 6 else "a preset name")
        elif "const" in sub:
            kinds.append(repr(sub["const"]))
        elif sub.get("type") == "array":
            kinds.append("a list")
        elif sub.get("type") == "object":
            kinds.append("a mapping with " + ", ".join(sub.get("required", [])))
        elif "type" in sub:
            kinds.append(f"an {sub['type']}" if sub["type"][0] in "aeiou" else f"a {sub['type']}")
    return " or ".join(kinds) or "allowed here"
