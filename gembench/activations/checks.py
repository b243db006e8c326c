"""Checks of an activation's formulas at high precision (mpmath): the derivative against a
central difference of the forward, the parameter gradients likewise, and which transcendental
functions the formulas call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mpmath

from gembench.activations.definition import ActivationDef, _Params
from gembench.activations.ops import TRANSCENDENTAL, MpOps

#: where derivatives are compared (points where the forward has a kink are skipped)
POINTS = (-7.3, -2.6, -1.1, -0.37, -0.013, 0.011, 0.29, 1.3, 3.1, 8.2)
_DPS = 60
_STEPS = (mpmath.mpf("1e-16"), mpmath.mpf("1e-19"))
_SMOOTH = mpmath.mpf("1e-12")  # two step sizes agree this well: the forward is smooth there
_AGREE = mpmath.mpf("1e-8")  # the derivative given must match the slope this well


def _slope(f: Any, x: Any) -> Any | None:
    """f'(x) by central differences at two steps, or None where they disagree (a kink)."""
    c1, c2 = ((f(x + h) - f(x - h)) / (2 * h) for h in _STEPS)
    return c2 if abs(c1 - c2) <= _SMOOTH * max(1, abs(c2)) else None


def _far(got: Any, want: Any) -> bool:
    return not abs(got - want) <= _AGREE * max(1, abs(want))


def check_formulas(d: ActivationDef, bound: Mapping[str, float]) -> str | None:
    """The problem with ``d``'s formulas at its default parameters in words, or None."""
    old = mpmath.mp.dps
    try:
        ops, p = MpOps(_DPS), _Params(bound)
        return _check_derivative(d, ops, p) or _check_param_grads(d, ops, bound)
    except Exception as exc:  # the user's formula failed in the namespace: say so, in one line
        return f"cannot evaluate the formulas with gembench.activations.ops: " \
               f"{type(exc).__name__}: {exc}"
    finally:
        mpmath.mp.dps = old


def _check_derivative(d: ActivationDef, ops: MpOps, p: Any) -> str | None:
    checked = 0
    for x0 in POINTS:
        x = mpmath.mpf(x0)
        slope = _slope(lambda v: d.forward(ops, v, p), x)
        if slope is None:
            continue
        got = d.derivative(ops, x, p)
        checked += 1
        if _far(got, slope):
            return (f"derivative disagrees with the forward at x = {x0:g}: derivative() gives "
                    f"{mpmath.nstr(got, 10)}, the forward's slope is {mpmath.nstr(slope, 10)} "
                    f"(central difference at {_DPS} digits)")
    if checked < 3:
        return "the forward has a kink at almost every checked point; cannot check derivative"
    return None


def _check_param_grads(d: ActivationDef, ops: MpOps, bound: Mapping[str, float]) -> str | None:
    if d.param_grads is None:
        return None
    for x0 in POINTS:
        x = mpmath.mpf(x0)
        for name, term in d.param_grads(ops, x, mpmath.mpf(1), _Params(bound)).items():
            if name not in bound:
                return f"param_grads returns {name!r}, which is not a parameter"

            def f(v: Any, name: str = name, x: Any = x) -> Any:
                return d.forward(ops, x, _Params({**bound, name: v}))

            slope = _slope(f, mpmath.mpf(bound[name]))
            if slope is not None and _far(term, slope):
                return (f"param_grads[{name!r}] disagrees with the forward at x = {x0:g}: "
                        f"{mpmath.nstr(term, 10)} vs a slope of {mpmath.nstr(slope, 10)}")
    return None


class _RecordingOps(MpOps):
    """MpOps remembering which transcendental functions a formula called."""

    def __init__(self) -> None:
        super().__init__(30)
        self.called: set[str] = set()

    def __getattribute__(self, name: str) -> Any:
        if name in TRANSCENDENTAL:
            object.__getattribute__(self, "called").add(name)
        return object.__getattribute__(self, name)


def uses_transcendentals(d: ActivationDef, bound: Mapping[str, float]) -> list[str]:
    """The transcendental namespace functions (exp, erfc, tanh, ...) the formulas call."""
    old = mpmath.mp.dps
    try:
        ops, p = _RecordingOps(), _Params(bound)
        for x0 in (-3.0, -1e-5, 0.0, 1e-5, 3.0):
            d.forward(ops, mpmath.mpf(x0), p)
            d.derivative(ops, mpmath.mpf(x0), p)
        return sorted(ops.called)
    finally:
        mpmath.mp.dps = old
