"""Activation parameters: their defaults, allowed ranges and the error a bad value raises.

The ranges are where every backend's formulas stay finite and accurate (float32 compute): a
value outside is a :class:`ParameterError` naming the activation, the parameter, what was
expected and what was found.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ParameterError(ValueError):
    """An activation parameter is unknown or outside its allowed range."""


@dataclass(frozen=True)
class Param:
    """One activation parameter: default, type and allowed range."""

    name: str
    default: float
    requirement: str  # human text, e.g. "a positive integer"
    check: Callable[[Any], bool]
    integer: bool = False
    doc: str = ""
    limits: str = ""  # where every backend stays finite and accurate, e.g. "at most 64"

    def validate(self, activation: str, value: Any) -> float:
        given = value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (isinstance(value, int) or math.isfinite(value))
        if ok and self.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if ok and self.integer and not isinstance(value, int):
            ok = False
        if not ok or not self.check(value):
            shown = repr(given)
            shown = shown if len(shown) <= 24 else f"{shown[:12]}... ({len(shown)} characters)"
            limits = f", {self.limits}," if self.limits else ""
            raise ParameterError(f"{activation}: parameter {self.name} must be "
                                 f"{self.requirement}{limits or ','} got {shown}")
        return value


N_MAX = 64  # beyond, the gate is a step to within rounding and 2N-fold powers only lose digits
EPS_RANGE = (1e-30, 1e30)  # 1/eps and the clamp point T*eps stay normal float32 numbers
S_MAX = 1e30  # |s|: a float32 parameter
Z_MAX = 1e4  # s/t: lam = 1 + softplus(s/t) <= 1e4 + 1, so lam^2 stays finite in float32


def learnable_constraint(params: Mapping[str, float]) -> str | None:
    """lambda_gelu_learnable's parameters together: the problem in words, or None."""
    z = params["s"] / params["t"]
    if not z <= Z_MAX:
        return (f"s/t must be at most {Z_MAX:g} (lam = 1 + softplus(s/t)), "
                f"got s={params['s']!r}, t={params['t']!r}")
    return None


N = Param("N", 1, "a positive integer", lambda v: 1 <= v <= N_MAX, integer=True,
          doc="gate shape is 2N", limits=f"at most {N_MAX}")
EPS = Param("eps", 1e-4, "a number > 0", lambda v: EPS_RANGE[0] <= v <= EPS_RANGE[1],
            doc="scale epsilon", limits=f"in [{EPS_RANGE[0]:g}, {EPS_RANGE[1]:g}]")
LAM = Param("lam", 1.0, "a number >= 1", lambda v: 1 <= v <= 1e15, doc="lambda, sharpness",
            limits="at most 1e15")
LEARNABLE_S = Param("s", 0.0, "a finite number", lambda v: abs(v) <= S_MAX,
                    doc="learnable pre-parameter", limits=f"|s| <= {S_MAX:g}")
LEARNABLE_T = Param("t", 0.1, "a number > 0", lambda v: v > 0, doc="temperature")
B_RANGE = (1e-8, 1e8)  # squareplus: sqrt(b) and b / max(|x|, sqrt(b)) stay normal float32
SQUAREPLUS_B = Param("b", 4.0, "a number > 0", lambda v: B_RANGE[0] <= v <= B_RANGE[1],
                     doc="curvature at 0 (f(0) = sqrt(b)/2)",
                     limits=f"in [{B_RANGE[0]:g}, {B_RANGE[1]:g}]")
