"""Suite files: YAML (built-in ones in ``gembench/suites/``), validated against a JSON schema,
expanded into cases.

Every mistake in a suite file becomes a :class:`SuiteError` naming the file, the key path, what
was expected and what was found.
"""

from __future__ import annotations

import codecs
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import gembench.spec.presets as presets
from gembench.activations.catalog import CATALOG, ParameterError, activation
from gembench.backends import backend_names
from gembench.plan.builtin import builtin_suites
from gembench.plan.schema import coerce, first_error, key_path, schema, short
from gembench.spec.cases import Case
from gembench.spec.contexts import context_spec
from gembench.spec.policy import Timing

#: structural limits: a suite is a few hundred values a few levels deep; more is a mistake
#: (or an alias bomb) and is refused before validation.
MAX_DEPTH = 32
MAX_VALUES = 100_000
#: longest suite name used in a path (results/NAME/..., reports/NAME-...).
MAX_NAME = 100


class SuiteError(Exception):
    """A suite file is unreadable or wrong; the message says where and what."""


_MERGE = "tag:yaml.org,2002:merge"  # ``<<: *base`` may be overridden key by key


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string (it wants ``1.0e-4``); suites read it as a float.
    A key written twice in one mapping (``dtypes`` twice) is an error, not "the last wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node)
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} written twice (first on line {first.line + 1}); "
                    "each key once", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Suite:
    name: str
    path: Path | None
    cases: list[Case]
    timing: Timing
    seed: int = 0
    description: str = ""
    skipped: list[tuple[Case, str]] = field(default_factory=list)
    #: the report adds the ReLU-likeness of the suite's activations (suite key ``likeness``)
    likeness: bool = False
    #: case id -> the timing of its group, where a group overrides ``timing``.
    timings: dict[str, Timing] = field(default_factory=dict)

    def timing_of(self, case: Case) -> Timing:
        """The timing policy of ``case``: its group's, else the suite's."""
        return self.timings.get(case.case_id, self.timing)


def safe_name(name: str, fallback: str = "suite") -> str:
    """``name`` made safe as one path component: letters, digits and ``-_.+`` kept, anything
    else (``/``, spaces, control characters) made ``_``, no leading dot, at most
    :data:`MAX_NAME` characters."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.+") else "_"
                   for ch in name).lstrip(".")[:MAX_NAME]
    return safe if safe.strip("_") else fallback


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _decode(raw: bytes, where: str) -> str:
    """The text of a suite file; UTF-8 (with or without a BOM), anything else refused."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE,
                       codecs.BOM_UTF32_BE)) and not raw.startswith(codecs.BOM_UTF8):
        raise SuiteError(f"{where}: the file is UTF-16/UTF-32 encoded; expected UTF-8 text "
                         "(save the suite as UTF-8)")
    if b"\x00" in raw:
        raise SuiteError(f"{where}: holds NUL bytes (a binary file, or UTF-16/UTF-32 text); "
                         "expected a YAML suite in UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(f"{where}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                         "expected a YAML suite in UTF-8 (save it as UTF-8)") from None


def resolve_suite(ref: str | Path) -> Path:
    """The suite file ``ref`` names: the file itself where it exists, else the built-in suite
    ``smoke``, ``smoke.yaml`` or ``suites/smoke.yaml`` names (from any directory)."""
    path = Path(ref)
    if path.is_file():
        return path
    builtin = builtin_suites()
    bare = path.parent in (Path("."), Path("suites")) and path.suffix in ("", ".yaml")
    if bare and path.stem in builtin:
        return builtin[path.stem]
    if not path.exists():
        raise SuiteError(f"{ref}: cannot read: no such file, and not a built-in suite; "
                         f"built-in suites: {', '.join(builtin)} (e.g. gembench run smoke)")
    return path


def load_suite(path: str | Path, *, quick: bool = False, device: str | None = None) -> Suite:
    """Read, validate and expand a suite file (or a built-in suite's name) into cases."""
    path = resolve_suite(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = _decode(raw, str(path))
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise SuiteError(f"{path}: not valid YAML{where}: {short(problem, 200)}") from None
    except RecursionError:
        raise SuiteError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels); a suite "
                         "is a mapping of lists and mappings a few levels deep") from None
    if data is None:
        raise SuiteError(f"{path}: the file is empty; expected a mapping with keys "
                         "activations, backends, shapes, dtypes, ...")
    return parse_suite(data, path, quick=quick, device=device)


def _check_structure(data: Any, where: str) -> None:
    """Refuse what the schema cannot judge cheaply: deep nesting, non-string keys, and more
    values than a suite holds (aliases expand: ``&a [*b, *b, ...]`` nests exponentially)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SuiteError(f"{where}: more than {MAX_VALUES} values (after expanding YAML "
                             "aliases); a suite holds a few hundred")
        if len(path) > MAX_DEPTH:
            raise SuiteError(f"{where}: {key_path(path[:3])}...: nested more than {MAX_DEPTH} "
                             "levels deep; a suite is a few levels deep")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise SuiteError(f"{where}: {key_path(path)}: expected string keys, found "
                                     f"{short(k, 40)} ({type(k).__name__})")
                stack.append((v, (*path, k)))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def parse_suite(data: Any, path: Path | None = None, *, quick: bool = False,
                device: str | None = None) -> Suite:
    """Validate suite data (as loaded from YAML) and expand it into cases."""
    where = str(path) if path else "<suite>"
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping of keys at the top level, "
                         f"found {type(data).__name__}")
    _check_structure(data, where)
    _load_plugins(data.get("plugins"), path, where)
    data = coerce(data, schema())
    problem = first_error(data)
    if problem:
        raise SuiteError(f"{where}: {problem}")
    top_timing = _timing(data.get("timing", {}), where, "")
    groups = data.get("groups") or [{}]
    base = {k: v for k, v in data.items() if k != "groups"}
    cases: list[Case] = []
    timings: dict[str, Timing] = {}
    for i, group in enumerate(groups):
        prefix = f"groups[{i}]." if "groups" in data else ""
        merged = {**base, **group}
        for key in ("activations", "backends"):
            if key not in merged:
                raise SuiteError(f"{where}: {prefix or '(top level)'}: '{key}' is a required "
                                 "property (at the top level or in every group)")
        timing = top_timing
        if "timing" in group:  # a group's timing overrides the suite's key by key
            timing = _timing({**data.get("timing", {}), **group["timing"]}, where, prefix)
        for case in _expand(merged, where, prefix, device):
            if case.case_id not in timings:
                timings[case.case_id] = timing.quick() if quick else timing
                cases.append(case)
    top_timing = top_timing.quick() if quick else top_timing
    fallback = safe_name(path.stem) if path else "suite"
    return Suite(safe_name(data.get("name", fallback), fallback), path, cases, top_timing,
                 data.get("seed", 0), data.get("description", ""),
                 likeness=bool(data.get("likeness", False)),
                 timings={k: t for k, t in timings.items() if t != top_timing})


def _load_plugins(refs: Any, path: Path | None, where: str) -> None:
    """Import the suite's ``plugins`` (files relative to the suite) so that the implementations
    they register are backends the suite may name; one that fails is the suite's mistake."""
    from gembench.backends import plugins

    for i, ref in enumerate(_as_list(refs) if refs is not None else []):
        if isinstance(ref, str):  # anything else: the schema says what is wrong
            reason = plugins.load(ref, origin="suite", base_dir=path.parent if path else None)
            if reason:
                raise SuiteError(f"{where}: plugins[{i}]: {reason}")


def _timing(values: dict[str, Any], where: str, prefix: str) -> Timing:
    timing = Timing(**values)
    if timing.max_samples < timing.min_samples:
        raise SuiteError(f"{where}: {prefix}timing.max_samples: expected >= min_samples "
                         f"({timing.min_samples}), found {timing.max_samples}")
    return timing


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
            if lo > hi:
                raise SuiteError(f"{where}: {key}.sweep: expected [low, high] exponents with "
                                 f"low <= high, found [{lo}, {hi}]")
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
