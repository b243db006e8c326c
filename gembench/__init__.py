"""gembench: benchmark and profile neural-network activation functions.

Public API::

    spec = gembench.activation("gem", N=2)
    kern = gembench.backend("torch_fused").build(spec, dtype="float32", device="cpu")
    y = kern.forward(x); dx = kern.backward(x, dy)
    y64, dydx64 = gembench.reference(spec, x_float64)
"""

from __future__ import annotations

from .backends import backend, backends
from .catalog import Activation, ParameterError, activation, activations
from .reference import reference

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "ParameterError",
    "__version__",
    "activation",
    "activations",
    "backend",
    "backends",
    "reference",
]
