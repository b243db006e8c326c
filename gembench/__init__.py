"""gembench: benchmark and profile neural-network activation functions.

Public API::

    spec = gembench.activation("gem", N=2)
    kern = gembench.backend("torch_fused").build(spec, dtype="float32", device="cpu")
    y = kern.forward(x); dx = kern.backward(x, dy)
    y64, dydx64 = gembench.reference(spec, x_float64)

    @gembench.register_activation(name="my_act", params={"k": (1.0, 0.1, 10.0)})
    class MyAct:                       # then a suite names "my_act" like a built-in
        def forward(ops, x, p): ...    # written against gembench.activations.ops
        def derivative(ops, x, p): ...

    @gembench.register_implementation(name="my_gem", activations=["gem"], saves="x")
    def my_gem(x, N=1): ...            # then a suite names "my_gem" like a backend
"""

from __future__ import annotations

from gembench.activations.catalog import Activation, ParameterError, activation, activation_names
from gembench.activations.params import Param
from gembench.activations.reference import reference
from gembench.activations.registry import register_activation
from gembench.backends import Kernel, Saved, backend, backend_names, register_implementation
from gembench.version import __version__

__all__ = [
    "Activation",
    "Kernel",
    "Param",
    "ParameterError",
    "Saved",
    "__version__",
    "activation",
    "activation_names",
    "backend",
    "backend_names",
    "reference",
    "register_activation",
    "register_implementation",
]
