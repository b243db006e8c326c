"""Activations registered from outside gembench: a name, parameters with their ranges, and the
forward and derivative written once against the array namespace (:mod:`gembench.activations.ops`)::

    @gembench.register_activation(name="isru_relu", params={"alpha": (1.0, 1e-3, 1e3)})
    class IsruRelu:
        \"\"\"x for x > 0, x / sqrt(1 + alpha x^2) below.\"\"\"

        def forward(ops, x, p): ...
        def derivative(ops, x, p): ...

(or ``register_activation(name=..., forward=f, derivative=df, params=...)``). The activation
joins the catalog and runs on every backend that evaluates the namespace, with the float64
reference, the accuracy gate and the likeness table. Registration evaluates both formulas at 60
digits (mpmath) and refuses a derivative that disagrees with a central difference of the
forward; whether it is transcendental-free is read from the functions the formulas call.

Modules are found like implementations (:mod:`gembench.backends.plugins`): the entry-point group
``gembench.implementations``, ``GEMBENCH_PLUGINS`` or a suite's ``plugins:`` list; a suite's (or
a script's) activation is added to ``GEMBENCH_PLUGINS`` so that worker processes find it too.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from gembench.activations.definition import ActivationDef, Formula
from gembench.activations.params import Param, ParameterError

ATTR = "__gembench_activation__"
_ENV = "GEMBENCH_PLUGINS"
ParamSpec = Param | tuple[float, float, float]


class ActivationRegistrationError(ValueError):
    """A registered activation is malformed or its derivative disagrees with its forward."""


def register_activation(target: Any = None, *, name: str, forward: Formula | None = None,
                        derivative: Formula | None = None,
                        params: Mapping[str, ParamSpec] | None = None, summary: str = "",
                        param_grads: Callable[..., dict[str, Any]] | None = None,
                        relative_accuracy: bool = False) -> Any:
    """Register an activation; use as a decorator on a class with ``forward`` and
    ``derivative`` (and optionally ``param_grads``) as plain functions ``f(ops, x, p)``, or
    call it with ``forward=`` and ``derivative=``. ``params`` maps a name to
    ``(default, low, high)`` (integers when all three are) or a :class:`Param`."""

    def decorate(obj: Any) -> Any:
        fwd = forward or _member(obj, "forward")
        der = derivative or _member(obj, "derivative")
        grads = param_grads or _member(obj, "param_grads", required=False)
        doc = summary or (inspect.getdoc(obj) or "").split("\n")[0] if obj is not None else ""
        d = define(name, fwd, der, params or {}, doc or summary, grads, relative_accuracy,
                   origin_of(obj if obj is not None else fwd))
        add(d)
        if obj is not None:
            setattr(obj, ATTR, d)
        return obj

    if forward is not None or target is not None:
        return decorate(target)
    return decorate


def _member(obj: Any, key: str, required: bool = True) -> Any:
    fn = getattr(obj, key, None)
    if fn is None and required:
        raise ActivationRegistrationError(f"register_activation: {obj!r} has no {key}(ops, x, p)")
    return fn


def _param(pname: str, spec: ParamSpec) -> Param:
    if isinstance(spec, Param):
        return spec
    default, lo, hi = spec
    integer = all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
    kind = "an integer" if integer else "a number"
    return Param(pname, default, f"{kind} in [{lo:g}, {hi:g}]",
                 lambda v, lo=lo, hi=hi: lo <= v <= hi, integer=integer)


def define(name: str, forward: Formula, derivative: Formula, params: Mapping[str, ParamSpec],
           summary: str, param_grads: Any, relative_accuracy: bool,
           origin: str) -> ActivationDef:
    """The checked definition of a registered activation (raises on any problem)."""
    from gembench.activations.catalog import CATALOG
    from gembench.activations.checks import check_formulas, uses_transcendentals

    where = f"register_activation(name={name!r})"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ActivationRegistrationError(f"{where}: name must be a word (letters, digits, _)")
    old = CATALOG.get(name, discover=False)
    if old is not None and old.origin == "built-in":
        raise ActivationRegistrationError(f"{where}: {name!r} is a built-in activation")
    for key, fn in (("forward", forward), ("derivative", derivative)):
        if not callable(fn):
            raise ActivationRegistrationError(f"{where}: {key} must be a function f(ops, x, p)")
    d = ActivationDef(name, summary or name, forward, derivative,
                      params=tuple(_param(k, v) for k, v in params.items()),
                      relative_accuracy=relative_accuracy, param_grads=param_grads,
                      formulation="registered formula, analytic derivative", origin=origin)
    bound = {q.name: q.validate(name, q.default) for q in d.params}
    problem = check_formulas(d, bound)
    if problem:
        raise ActivationRegistrationError(f"{where}: {problem}")
    return _with(d, transcendental_free=not uses_transcendentals(d, bound))


def _with(d: ActivationDef, **changes: Any) -> ActivationDef:
    import dataclasses

    return dataclasses.replace(d, **changes)


def add(d: ActivationDef) -> None:
    """Put a checked definition into the catalog (and make worker processes find it)."""
    from gembench.activations.catalog import CATALOG

    CATALOG.register(d)
    _export_source(d.origin)


def origin_of(obj: Any) -> str:
    """How the defining module was found and where it is: ``suite: path/to/file.py``."""
    source, how = _loading()
    if not source:
        module = getattr(obj, "__module__", "") or ""
        if module and module != "__main__":
            source = module
        else:
            try:
                source = inspect.getsourcefile(obj) or ""
            except TypeError:
                source = ""
    return f"{how}: {source}" if source else how


#: (source, origin) of each plugin file being imported, innermost last: the plugin loader
#: (:mod:`gembench.backends.plugins`) pushes and pops it
LOADING: list[tuple[str, str]] = []


def _loading() -> tuple[str, str]:
    """(source, origin) of the plugin being imported, or ("", "code")."""
    return LOADING[-1] if LOADING else ("", "code")


def _export_source(origin: str) -> None:
    """Add a suite's or a script's activation source to GEMBENCH_PLUGINS (inherited by worker
    processes); entry points and GEMBENCH_PLUGINS itself are found again anyway."""
    how, _, source = origin.partition(": ")
    if how not in ("suite", "code") or not source or source.endswith("<stdin>"):
        return
    current = [r.strip() for r in os.environ.get(_ENV, "").split(",") if r.strip()]
    if source not in current:
        os.environ[_ENV] = ",".join([*current, source])


def origins() -> list[dict[str, str]]:
    """Every activation outside the built-ins: name, origin, transcendental-free, formula."""
    from gembench.activations.catalog import CATALOG

    return [{"name": n, "origin": d.origin, "transcendental_free":
             "yes" if d.transcendental_free else "no", "formula": d.summary}
            for n, d in CATALOG.items() if d.origin != "built-in"]


def origins_text() -> str:
    """The ``gembench list`` section on registered activations ("" when there are none)."""
    rows = origins()
    if not rows:
        return ""
    from tabulate import tabulate

    return "\nActivations registered from outside gembench\n" + tabulate(
        [list(r.values()) for r in rows],
        headers=["name", "registered from", "transcendental-free", "formula"])


__all__ = ["ActivationRegistrationError", "ParameterError", "add", "define",
           "origins", "origins_text", "register_activation"]
