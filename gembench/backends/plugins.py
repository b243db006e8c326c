"""Implementations registered from outside gembench: one kernel of one activation (or a few),
without writing a backend.

A user's module registers a function or a :class:`~gembench.backends.base.Kernel` subclass::

    @gembench.register_implementation(name="my_gem", activations=["gem"],
                                      dtypes=["float32"], devices=["cpu"], saves="x")
    def my_gem(x, N=1): ...

and gembench finds the module through the entry-point group ``gembench.implementations``, the
environment variable ``GEMBENCH_PLUGINS`` (comma-separated ``module``, ``module:attr`` or
``path/to/file.py``) or a suite's top-level ``plugins:`` list. The implementation is then a
backend like any other (:mod:`gembench.backends.plugin_backend` adapts it). A plugin that cannot
load is recorded with the reason, never raised: ``gembench list`` shows it as unavailable and
``run`` skips its cases.

This module imports no torch: ``import gembench`` stays light.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gembench.activations.catalog import CATALOG
from gembench.activations.dtypes import DTYPES
from gembench.activations.registry import LOADING
from gembench.backends.base import SAVED_WHAT, Kernel, Saved, SavedWhat
from gembench.backends.builtin import BACKEND_CLASSES

ENTRY_POINT_GROUP = "gembench.implementations"
ENV_VAR = "GEMBENCH_PLUGINS"
TIMEOUT_VAR = "GEMBENCH_PLUGIN_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0
DEVICES = ("cpu", "cuda")
_ATTR = "__gembench_implementation__"
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

T = TypeVar("T")


class PluginError(ValueError):
    """A registration or plugin reference is wrong; the message says what and where."""


@dataclass(frozen=True)
class Implementation:
    """One registered implementation: what it computes, where it runs, how it differentiates."""

    name: str
    activations: tuple[str, ...]
    dtypes: tuple[str, ...]
    devices: tuple[str, ...]
    #: torch autograd differentiates ``forward`` (else ``backward`` gives dx)
    autograd: bool
    saves: Saved
    summary: str
    #: a function ``forward(x, **params) -> y`` ...
    forward: Callable[..., Any] | None = None
    #: ... with ``backward(dy, *, x=..., y=..., **params) -> dx`` when not autograd
    backward: Callable[..., Any] | None = None
    #: ... or a Kernel subclass, built as ``cls(spec, dtype, device)``
    kernel: type[Kernel] | None = None
    #: packages it needs (its availability says which is missing)
    requires: tuple[str, ...] = ()
    #: what a worker process loads to find it again (module, module:attr or a .py path)
    source: str = ""
    #: how it was found: "entry point", GEMBENCH_PLUGINS, "suite" or "code"
    origin: str = "code"


#: name -> implementation, for every implementation registered in this process
REGISTRY: dict[str, Implementation] = {}
#: plugin reference (entry-point name, GEMBENCH_PLUGINS item) -> why it could not load
FAILED: dict[str, str] = {}
_loaded: dict[str, str | None] = {}  # source -> failure reason (None: loaded)
_loading = LOADING  # (source, origin) of the plugin being imported (shared with activations)
_discovered = False


def register_implementation(
    target: T | None = None, *, name: str, activations: Sequence[str],
    dtypes: Sequence[str] = ("float32",), devices: Sequence[str] = ("cpu",),
    autograd: bool = True, backward: Callable[..., Any] | None = None,
    saves: SavedWhat | Saved = "unknown", summary: str = "",
    requires: Sequence[str] = (),
) -> Any:
    """Register a function ``f(x, **params) -> y`` or a Kernel subclass as implementation
    ``name`` of ``activations``. Use as a decorator (or call with ``target``)."""

    def decorate(obj: T) -> T:
        impl = _implementation(obj, name=name, activations=activations, dtypes=dtypes,
                               devices=devices, autograd=autograd, backward=backward,
                               saves=saves, summary=summary, requires=requires)
        taken = REGISTRY.get(impl.name)
        if taken is not None and taken.source != impl.source:
            raise PluginError(f"register_implementation(name={impl.name!r}): the name is "
                              f"already registered by {taken.source or 'code'} ({taken.origin})")
        REGISTRY[impl.name] = impl
        setattr(obj, _ATTR, impl)
        return obj

    return decorate if target is None else decorate(target)


def _implementation(obj: Any, *, name: str, activations: Sequence[str], dtypes: Sequence[str],
                    devices: Sequence[str], autograd: bool, backward: Callable[..., Any] | None,
                    saves: SavedWhat | Saved, summary: str,
                    requires: Sequence[str]) -> Implementation:
    where = f"register_implementation(name={name!r})"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        raise PluginError(f"{where}: name must be a word (letters, digits, _ . -)")
    if name in BACKEND_CLASSES:
        raise PluginError(f"{where}: {name!r} is the name of a built-in backend")
    acts = _subset(where, "activations", activations, list(CATALOG))
    saved = saves if isinstance(saves, Saved) else Saved(_one_of(where, "saves", saves,
                                                                 SAVED_WHAT))
    is_kernel = isinstance(obj, type) and issubclass(obj, Kernel)
    if not is_kernel and not callable(obj):
        raise PluginError(f"{where}: expected a function or a gembench Kernel subclass, "
                          f"found {obj!r}")
    if isinstance(obj, type) and not is_kernel:
        raise PluginError(f"{where}: the class {obj.__name__} is not a gembench Kernel "
                          "subclass")
    if not is_kernel and not autograd:
        if backward is None:
            raise PluginError(f"{where}: autograd=False needs backward=f(dy, *, x, y, **params)")
        if saved.what == "unknown":
            raise PluginError(f"{where}: autograd=False needs saves= one of x, y, x_and_y, none "
                              "(what backward is given)")
        if any(CATALOG[a].param_grads for a in acts):
            raise PluginError(f"{where}: a learnable activation without autograd needs a Kernel "
                              "subclass (its grads() returns the parameter gradients)")
    source, origin = _loading[-1] if _loading else (_module_of(obj), "code")
    return Implementation(
        name=name, activations=acts,
        dtypes=_subset(where, "dtypes", dtypes, list(DTYPES)),
        devices=_subset(where, "devices", devices, list(DEVICES)),
        autograd=bool(getattr(obj, "autograd", True)) if is_kernel else autograd,
        saves=saved, summary=summary or (obj.__doc__ or "").strip().split("\n")[0],
        forward=None if is_kernel else obj, backward=backward,
        kernel=obj if is_kernel else None, requires=tuple(requires), source=source,
        origin=origin)


def _subset(where: str, key: str, values: Sequence[str], allowed: list[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out = tuple(_one_of(where, key, v, allowed) for v in values)
    if not out:
        raise PluginError(f"{where}: {key} is empty; expected some of {', '.join(allowed)}")
    return out


def _one_of(where: str, key: str, value: Any, allowed: Sequence[str]) -> Any:
    if value not in allowed:
        raise PluginError(f"{where}: {key}: expected one of {', '.join(allowed)}, "
                          f"found {value!r}")
    return value


def _module_of(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return "" if module == "__main__" else module


# ---- loading plugins


def load(ref: str, *, origin: str, base_dir: Path | None = None) -> str | None:
    """Import plugin ``ref`` (``module``, ``module:attr`` or a ``.py`` file, relative to
    ``base_dir``); return why it failed, or None. Never raises; loads each source once."""
    ref = ref.strip()
    source = ref
    if ref.endswith(".py"):
        path = Path(ref).expanduser()
        source = str(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
        source = str(Path(source).resolve())
    return _once(source, origin, f"importing {ref}", lambda: _import(ref, source))


def import_timeout() -> float:
    """Seconds a plugin's import may take (``GEMBENCH_PLUGIN_TIMEOUT_S``, default 60)."""
    try:
        value = float(os.environ.get(TIMEOUT_VAR, "") or DEFAULT_TIMEOUT_S)
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if math.isfinite(value) and value > 0 else DEFAULT_TIMEOUT_S


def _once(source: str, origin: str, doing: str, load_it: Callable[[], None]) -> str | None:
    """Run ``load_it`` once per source with registrations attributed to it; the failure reason
    (an exception of any kind, ``sys.exit``, or an import that outlasts :func:`import_timeout`,
    all caught: a plugin never ends or hangs gembench) or None."""
    if source not in _loaded:
        _loading.append((source, origin))
        try:
            _loaded[source] = _failure(doing, _bounded(load_it, import_timeout()))
        finally:
            _loading.pop()
    return _loaded[source]


def _failure(doing: str, exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    if isinstance(exc, PluginError):
        return str(exc)
    if isinstance(exc, SystemExit):
        return f"{doing} called sys.exit({exc.code!r})"
    if isinstance(exc, TimeoutError):
        return f"{doing} did not finish within {import_timeout():g} s ({TIMEOUT_VAR}); hangs?"
    return f"{doing} raised {type(exc).__name__}: {exc}"


def _bounded(load_it: Callable[[], None], timeout: float) -> BaseException | None:
    """Run ``load_it`` in a daemon thread, its prints sent to stderr (stdout carries gembench's
    own output, e.g. an export); what it raised, a TimeoutError when it did not end in time,
    or None. A hung import is left behind in its thread (it cannot be stopped)."""
    box: list[BaseException | None] = []

    def target() -> None:
        try:
            load_it()
            box.append(None)
        except BaseException as exc:  # sys.exit or anything else: the reason
            box.append(exc)

    with contextlib.redirect_stdout(sys.stderr):
        thread = threading.Thread(target=target, name="gembench-plugin-import", daemon=True)
        thread.start()
        thread.join(timeout)
    if thread.is_alive() or not box:
        return TimeoutError()
    if isinstance(box[0], KeyboardInterrupt):
        raise box[0]
    return box[0]


def _import(ref: str, source: str) -> None:
    if ref.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise PluginError(f"no such plugin file {source}")
        module_name = "gembench_plugin_" + re.sub(r"\W", "_", path.stem)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot import {source} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return
    module_name, colon, attr = ref.partition(":")
    if not _DOTTED.match(module_name) or (colon and not _DOTTED.match(attr)):
        raise PluginError(f"expected a module, module:attribute or a .py file, found {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name}: {exc}") from None
    if colon:
        _registered(ref, _getattr(module, attr, ref))


def _getattr(obj: Any, dotted: str, ref: str) -> Any:
    for part in dotted.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{ref}: {obj.__name__ if hasattr(obj, '__name__') else obj} "
                              f"has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _registered(ref: str, obj: Any) -> None:
    """``obj`` (named by a plugin reference) must be a registered implementation or a module."""
    # [issue 21, catalog] an activation registered with @gembench.register_activation is a
    # plugin target too (gembench.activations.registry)
    if getattr(obj, "__gembench_activation__", None) is not None:
        return
    if getattr(obj, _ATTR, None) is None and not isinstance(obj, type(sys)):
        raise PluginError(f"{ref} is {obj!r}, not an implementation registered with "
                          "@gembench.register_implementation")


def discover() -> None:
    """Load the plugins named by entry points and ``GEMBENCH_PLUGINS`` (once per process)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    try:
        points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # a broken installed distribution
        FAILED[f"entry points ({ENTRY_POINT_GROUP})"] = f"cannot read: {exc}"
        points = []
    for ep in points:
        reason = _load_entry_point(ep)
        if reason:
            FAILED[ep.name] = f"entry point {ep.name} = {ep.value}: {reason}"
    for ref in filter(None, (r.strip() for r in os.environ.get(ENV_VAR, "").split(","))):
        reason = load(ref, origin=ENV_VAR)
        if reason:
            FAILED[ref] = f"{ENV_VAR} item {ref!r}: {reason}"


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> str | None:
    return _once(ep.value, "entry point", "loading",
                 lambda: _registered(ep.value, ep.load()))


def worker_plugins(impl: Implementation) -> str | None:
    """The ``GEMBENCH_PLUGINS`` value a worker process needs to find ``impl`` (None: it finds
    it anyway, through an entry point or the inherited variable)."""
    current = [r.strip() for r in os.environ.get(ENV_VAR, "").split(",") if r.strip()]
    if impl.origin == "entry point" or not impl.source or impl.source in current:
        return None
    return ",".join([*current, impl.source])


CATALOG.discoverers.append(discover)  # the catalog's first lookup loads the plugins

__all__ = ["ENTRY_POINT_GROUP", "ENV_VAR", "FAILED", "REGISTRY", "Implementation",
           "PluginError", "discover", "load", "register_implementation"]
