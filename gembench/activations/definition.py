"""What an activation is: its declaration (:class:`ActivationDef`, parameters unbound) and an
activation with its parameters bound (:class:`Activation`, what backends build)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gembench.activations.params import Param

Formula = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class ActivationDef:
    """An activation as the catalog declares it (parameters unbound)."""

    name: str
    summary: str
    forward: Formula
    derivative: Formula
    params: tuple[Param, ...] = ()
    transcendental_free: bool = False
    relative_accuracy: bool = False  # accurate relative to |f| down to the dtype's tiny
    param_grads: Callable[[Any, Any, Any, Any], dict[str, Any]] | None = None
    #: a check across parameters: the problem in words, or None when they are fine
    constraint: Callable[[Mapping[str, float]], str | None] | None = None
    #: how the formulas are evaluated (shown with each case, e.g. "1 division, no select")
    formulation: str = ""
    extra_bytes: Mapping[str, int] = field(default_factory=dict)  # per pass, beyond x/y/dy/dx
    #: where it was defined: "built-in", or how a registered one was found (see
    #: :mod:`gembench.activations.registry`) and its source
    origin: str = "built-in"


@dataclass(frozen=True)
class Activation:
    """An activation with its parameters bound and validated: what backends build."""

    definition: ActivationDef
    params: Mapping[str, float]

    #: ``(name, params) -> Activation``, set by :mod:`gembench.activations.catalog`, the only
    #: maker of activations: another process rebuilds one from the catalog by name (formulas
    #: are not picklable themselves)
    rebuild: ClassVar[Callable[..., Activation]]

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).rebuild, (self.name, dict(self.params)))

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def label(self) -> str:
        """Name with parameters, e.g. ``gem(N=2)``; stable, used as a key in results."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.name}({inner})"

    @property
    def transcendental_free(self) -> bool:
        return self.definition.transcendental_free

    @property
    def learnable(self) -> bool:
        return self.definition.param_grads is not None

    @property
    def p(self) -> _Params:
        return _Params(self.params)

    def forward(self, ops: Any, x: Any) -> Any:
        """f(x) evaluated with the given array namespace."""
        return self.definition.forward(ops, x, self.p)

    def derivative(self, ops: Any, x: Any) -> Any:
        """f'(x) evaluated with the given array namespace."""
        return self.definition.derivative(ops, x, self.p)

    def param_grad_terms(self, ops: Any, x: Any, dy: Any) -> dict[str, Any]:
        """Per-element terms of dL/dparam (sum them for the gradient); empty if not learnable."""
        if self.definition.param_grads is None:
            return {}
        return self.definition.param_grads(ops, x, dy, self.p)

    def bytes_per_element(self, itemsize: int, pass_: str) -> int:
        """Minimal memory traffic per element for a pass (spec: forward x->y, backward x,dy->dx)."""
        elements = {"forward": 2, "backward": 3, "forward_backward": 5}[pass_]
        return elements * itemsize


class _Params:
    """Attribute access to bound parameters, plus derived values (lambda of the learnable form)."""

    def __init__(self, params: Mapping[str, float]) -> None:
        self.__dict__.update(params)
        if "s" in params and "t" in params:  # lambda_gelu_learnable
            z = params["s"] / params["t"]
            e = math.exp(-abs(z))  # never overflows, for any s/t
            self.sig = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
            self.lam = 1.0 + max(z, 0.0) + math.log1p(e)


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"
