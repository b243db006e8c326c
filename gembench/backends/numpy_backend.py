"""``numpy``: the catalog formulas on NumPy arrays, analytic backward.

float16 is computed in float32 and rounded once; bfloat16 has no NumPy dtype (unsupported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gembench.activations.catalog import Activation
from gembench.activations.ops import NumpyOps
from gembench.backends.base import Backend, Kernel

_NP = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
_COMPUTE = {"float64": np.float64, "float32": np.float32, "float16": np.float32}


class NumpyKernel(Kernel):
    saved_for_backward = "x (by construction: backward recomputes from x)"

    def __init__(self, spec: Activation, dtype: str, device: str) -> None:
        super().__init__(spec, dtype, device)
        self.ops = NumpyOps(_COMPUTE[dtype])
        self.out_type = _NP[dtype]

    def _compute(self, x: np.ndarray) -> np.ndarray:
        return x.astype(self.ops.dtype, copy=False)

    def forward(self, x: np.ndarray, out: Any = None) -> np.ndarray:
        with np.errstate(all="ignore"):
            y = self.spec.forward(self.ops, self._compute(x))
        return y.astype(self.out_type, copy=False)

    def grads(self, x: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        xc, dyc = self._compute(x), self._compute(dy)
        with np.errstate(all="ignore"):
            dx = (dyc * self.spec.derivative(self.ops, xc)).astype(self.out_type, copy=False)
            terms = self.spec.param_grad_terms(self.ops, xc, dyc)
        return dx, {k: np.sum(v, dtype=np.float64) for k, v in terms.items()}

    def describe(self) -> dict[str, Any]:
        return {"formulation": self.spec.definition.formulation + "; analytic backward"}


class NumpyBackend(Backend):
    name = "numpy"
    summary = "catalog formulas in NumPy, analytic backward (float16 computed in float32)"
    dtypes = ("float64", "float32", "float16")

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        if dtype == "bfloat16":
            return "NumPy has no bfloat16 dtype"
        return super().unsupported(spec, dtype, device)

    def build(self, spec: Activation, dtype: str, device: str) -> NumpyKernel:
        return NumpyKernel(spec, dtype, device)

    def from_numpy(self, a: np.ndarray, dtype: str, device: str) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=_NP[dtype])

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def empty_like(self, a: np.ndarray) -> np.ndarray:
        return np.empty_like(a)


