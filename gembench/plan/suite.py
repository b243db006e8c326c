"""Suite files: YAML under ``suites/``, validated against a JSON schema, expanded into cases.

Every mistake in a suite file becomes a :class:`SuiteError` naming the file, the key path, what
was expected and what was found.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gembench.activations.catalog import CATALOG, ParameterError, activation
from gembench.activations.dtypes import DTYPES
from gembench.backends import backend_names
from gembench.engine.policy import Timing
from gembench.engine.registry import context_names, context_spec
from gembench.plan import presets
from gembench.plan.cases import CACHE_STATES, PASSES, Case


class SuiteError(Exception):
    """A suite file is unreadable or wrong; the message says where and what."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string (it wants ``1.0e-4``); suites read it as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


_NUM = {"type": "number"}
_POS_INT = {"type": "integer", "minimum": 1}
_LIST_OR_ONE = lambda item: {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}  # noqa: E731

def schema() -> dict[str, Any]:
    """The JSON schema of suite files (built on call: backends may come from plugins)."""
    top = _schema()
    group = {"type": "object", "additionalProperties": False,
             "properties": {k: v for k, v in top["properties"].items()
                            if k not in ("name", "description", "seed")}}
    top["properties"]["groups"] = {"type": "array", "minItems": 1, "items": group}
    top["required"] = []
    return top


def _schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["activations", "backends"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "context": {"enum": context_names()},
            "activations": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "params": {
                                    "type": "object",
                                    "additionalProperties": _LIST_OR_ONE(_NUM),
                                },
                            },
                        },
                    ]
                },
            },
            "backends": {"anyOf": [{"const": "all"}, {"type": "array", "minItems": 1,
                                                      "items": {"enum": backend_names()}}]},
            "shapes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        {"enum": sorted({n for c in context_names()
                                         for n in context_spec(c).presets})},
                        _POS_INT,
                        {"type": "array", "items": _POS_INT, "minItems": 1},
                        {"type": "object", "additionalProperties": False,
                         "required": ["sweep"],
                         "properties": {"sweep": {"type": "array", "items": _POS_INT,
                                                  "minItems": 2, "maxItems": 2}}},
                    ]
                },
            },
            "dtypes": _LIST_OR_ONE({"enum": list(DTYPES)}),
            "devices": _LIST_OR_ONE({"enum": ["cpu", "cuda", "auto"]}),
            "passes": _LIST_OR_ONE({"enum": list(PASSES)}),
            "threads": _LIST_OR_ONE(_POS_INT),
            "allocator": _LIST_OR_ONE({"enum": ["default", "caching"]}),
            "cache": _LIST_OR_ONE({"enum": list(CACHE_STATES)}),
            "seed": {"type": "integer"},
            "timing": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "budget_s": {"type": "number", "exclusiveMinimum": 0},
                    "min_samples": {"type": "integer", "minimum": 3},
                    "max_samples": {"type": "integer", "minimum": 3},
                    "warmup": {"type": "integer", "minimum": 0},
                    "target_precision": {"type": "number", "exclusiveMinimum": 0},
                    "min_sample_time_s": {"type": "number", "exclusiveMinimum": 0},
                    "timeout_s": {"type": "number", "exclusiveMinimum": 0},
                    "error_elements": _POS_INT,
                    "cuda_graphs": {"type": "boolean"},
                    "retry_busy": {"type": "integer", "minimum": 0},
                },
            },
        },
    }


@dataclass
class Suite:
    name: str
    path: Path | None
    cases: list[Case]
    timing: Timing
    seed: int = 0
    description: str = ""
    skipped: list[tuple[Case, str]] = field(default_factory=list)


def _path(err_path: Any) -> str:
    out = ""
    for part in err_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For 'none of these alternatives' errors, the sub-error that got furthest into the data."""
    while err.context:
        sub = max(err.context, key=lambda e: len(e.absolute_path))
        if len(sub.absolute_path) <= len(err.absolute_path):
            break
        err = sub
    return err


def _describe_error(err: jsonschema.ValidationError) -> str:
    found = err.instance
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(found) - set(allowed)) if isinstance(found, dict) else []
        return f"unknown key {extra[0]!r}; expected one of {', '.join(allowed)}"
    if err.validator == "required":
        return err.message
    if err.validator == "enum":
        return f"expected one of {', '.join(map(str, err.validator_value))}, found {found!r}"
    if err.validator == "anyOf":
        return f"found {found!r} ({type(found).__name__}), which is not {_anyof_text(err.schema)}"
    if err.validator == "type":
        return f"expected {err.validator_value}, found {found!r} ({type(found).__name__})"
    return f"{err.message}"


def _anyof_text(schema: dict[str, Any]) -> str:
    kinds = []
    for sub in schema.get("anyOf", []):
        if "enum" in sub:
            kinds.append("one of " + ", ".join(map(str, sub["enum"])))
        elif "const" in sub:
            kinds.append(repr(sub["const"]))
        elif sub.get("type") == "array":
            kinds.append("a list")
        elif sub.get("type") == "object":
            kinds.append("a mapping with " + ", ".join(sub.get("required", [])))
        elif "type" in sub:
            kinds.append(f"a {sub['type']}")
    return " or ".join(kinds) or "allowed here"


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def load_suite(path: str | Path, *, quick: bool = False, device: str | None = None) -> Suite:
    """Read, validate and expand a suite file into cases."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        raise SuiteError(f"{path}: the file is empty; expected a mapping with keys "
                         "activations, backends, shapes, dtypes, ...")
    return parse_suite(data, path, quick=quick, device=device)


def parse_suite(data: Any, path: Path | None = None, *, quick: bool = False,
                device: str | None = None) -> Suite:
    where = str(path) if path else "<suite>"
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping of keys at the top level, "
                         f"found {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        err = _deepest(max(errors, key=lambda e: len(e.absolute_path)))
        raise SuiteError(f"{where}: {_path(err.absolute_path)}: {_describe_error(err)}")
    groups = data.get("groups") or [{}]
    base = {k: v for k, v in data.items() if k != "groups"}
    cases: list[Case] = []
    seen: set[str] = set()
    for i, group in enumerate(groups):
        prefix = f"groups[{i}]." if "groups" in data else ""
        merged = {**base, **group}
        for key in ("activations", "backends"):
            if key not in merged:
                raise SuiteError(f"{where}: {prefix or '(top level)'}: '{key}' is a required "
                                 "property (at the top level or in every group)")
        for case in _expand(merged, where, prefix, device):
            if case.case_id not in seen:
                seen.add(case.case_id)
                cases.append(case)
    timing = Timing(**data.get("timing", {}))
    if timing.max_samples < timing.min_samples:
        raise SuiteError(f"{where}: timing.max_samples: expected >= min_samples "
                         f"({timing.min_samples}), found {timing.max_samples}")
    if quick:
        timing = timing.quick()
    return Suite(data.get("name", path.stem if path else "suite"), path, cases, timing,
                 data.get("seed", 0), data.get("description", ""))


def _shapes(items: list[Any], context: str, device: str, where: str,
            prefix: str) -> list[tuple[str, tuple[int, ...]]]:
    """(preset name or "", shape) for each shapes entry, resolved for a context and device."""
    out: list[tuple[str, tuple[int, ...]]] = []
    ctx = context_spec(context)
    names, rank = list(ctx.presets), ctx.rank
    for j, item in enumerate(items):
        key = f"{prefix}shapes[{j}]"
        if isinstance(item, str):
            if item not in names:
                raise SuiteError(f"{where}: {key}: {item!r} is not a {context} preset; "
                                 f"expected one of {', '.join(names)}")
            out.append((item, ctx.resolve(item, device)))
        elif isinstance(item, dict):
            lo, hi = item["sweep"]
            out += [("", s) for s in presets.sweep(lo, hi)]
        else:
            shape = (item,) if isinstance(item, int) else tuple(item)
            if rank and len(shape) != rank:
                raise SuiteError(f"{where}: {key}: a {context} shape is {ctx.shape_help}, "
                                 f"found {item!r}")
            out.append(("", shape))
    return out


def _expand(data: dict[str, Any], where: str, prefix: str, device: str | None) -> list[Case]:
    """The cases of one group (top-level keys merged with the group's)."""
    specs = []
    for i, item in enumerate(data["activations"]):
        name, grid = (item, {}) if isinstance(item, str) else (item["name"], item.get("params", {}))
        key = f"{prefix}activations[{i}]"
        if name not in CATALOG:
            raise SuiteError(f"{where}: {key}: unknown activation {name!r}; expected one of "
                             f"{', '.join(CATALOG)}")
        keys = list(grid)
        for values in itertools.product(*(_as_list(grid[k]) for k in keys)):
            params = dict(zip(keys, values))
            try:
                spec = activation(name, **params)
            except ParameterError as exc:
                raise SuiteError(f"{where}: {key}.params: {exc}") from None
            specs.append((name, dict(spec.params)))

    chosen = backend_names() if data["backends"] == "all" else data["backends"]
    devices = _as_list(device or data.get("devices", "cpu"))
    devices = [_resolve_device(d) for d in devices]
    cases: list[Case] = []
    context = data.get("context", "elementwise")
    ctx = context_spec(context)
    shapes = {d: _shapes(data.get("shapes", ["1M"]), context, d, where, prefix) for d in devices}
    axes = itertools.product(
        devices, _as_list(data.get("dtypes", "float32")), range(len(shapes[devices[0]])),
        _as_list(data.get("threads", 1)), _as_list(data.get("allocator", "default")),
        _as_list(data.get("passes", list(ctx.passes))), chosen,
        [("relu", {}), *specs],  # the ReLU baseline is always included
        _as_list(data.get("cache", list(ctx.default_cache))),
    )
    for dev, dt, j, threads, alloc, pass_, be, (act, params), cache in axes:
        preset, shape = shapes[dev][j]
        if not ctx.allows(pass_):
            raise SuiteError(f"{where}: {prefix}passes: the {context} context times "
                             f"{', '.join(ctx.passes)}, found {pass_}")
        cases.append(Case(backend=be, activation=act, params=params, dtype=dt, device=dev,
                          shape=shape, pass_=pass_, threads=threads, allocator=alloc,
                          context=context, cache=cache, preset=preset))
    return cases


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
