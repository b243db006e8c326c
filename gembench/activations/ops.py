"""Array-namespace adapters: every activation formula is written once against these.

A formula is a Python function ``f(ops, x, p)`` using arithmetic operators, comparisons and the
few functions below (``sqrt`` is algebraic; :data:`TRANSCENDENTAL` names the others that are
not). Formulas avoid ``where`` (a select on a boolean mask): on CPU builds it is
tens of times slower than arithmetic, while ``relu``/``clip``/``clamp`` (max/min) and a
comparison cast to a number (``step``) vectorize. ``clip`` and ``relu`` have no gradient at
their bounds, ``clamp`` passes it there. ``recip(a)`` is 1/a as one operation. ``ops.eps`` is
the machine epsilon of the compute dtype (formulas clamp arguments where a value already rounds
to its limit). The same formula then runs on NumPy arrays (reference and ``numpy`` backend),
torch tensors (``torch_eager`` through autograd, ``torch_fused`` analytically), mpmath scalars
at high precision (tests) and symbolic ONNX values (``onnxruntime`` graphs).
"""

from __future__ import annotations

import math
from typing import Any

#: namespace functions that are transcendental: an activation calling none of them is
#: transcendental-free (+, -, *, /, comparisons, max/min and sqrt only).
TRANSCENDENTAL: tuple[str, ...] = ("exp", "log1p", "tanh", "erfc", "sigmoid", "softplus")


def ipow(a: Any, n: int) -> Any:
    """``a**n`` for a positive integer n as repeated multiplication (never ``pow``)."""
    if n < 1:
        raise ValueError("ipow needs n >= 1")
    result = None
    base = a
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result


class NumpyOps:
    """NumPy arrays in one compute dtype (float64 for the reference)."""

    name = "numpy"

    def __init__(self, dtype: Any) -> None:
        import numpy as np

        self.np = np
        self.dtype = np.dtype(dtype)
        self.eps = float(np.finfo(self.dtype).eps)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.np.where(c, a, b).astype(self.dtype, copy=False)

    def abs(self, a: Any) -> Any:
        return self.np.abs(a)

    def exp(self, a: Any) -> Any:
        return self.np.exp(a)

    def log1p(self, a: Any) -> Any:
        return self.np.log1p(a)

    def sqrt(self, a: Any) -> Any:
        return self.np.sqrt(a)

    def tanh(self, a: Any) -> Any:
        return self.np.tanh(a)

    def erfc(self, a: Any) -> Any:
        from scipy import special

        return special.erfc(a)

    def sigmoid(self, a: Any) -> Any:
        from scipy import special

        return special.expit(a)

    def softplus(self, a: Any) -> Any:
        return self.np.logaddexp(self.dtype.type(0), a)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        t = self.dtype.type
        return self.np.clip(a, t(lo), t(hi))

    clamp = clip  # no autograd here: the two differ only in their gradient at the bounds

    def relu(self, a: Any) -> Any:
        # clip to [0, inf]: NumPy 2's clip is vectorized, maximum(a, 0) is 3.5x slower (1M f32)
        return self.clip(a, 0.0, self.np.inf)

    def step(self, a: Any) -> Any:
        return (a > 0).astype(self.dtype)

    def recip(self, a: Any) -> Any:
        return self.np.reciprocal(a)


class TorchOps:
    """torch tensors; every op is an ordinary differentiable torch op."""

    name = "torch"

    def __init__(self, dtype: Any = None) -> None:
        import torch

        self.torch = torch
        self.dtype = dtype
        self.eps = float(torch.finfo(dtype or torch.get_default_dtype()).eps)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        t = self.torch
        if not isinstance(a, t.Tensor) and not isinstance(b, t.Tensor):
            a = t.full_like(c, a, dtype=self.dtype or t.get_default_dtype())
        return t.where(c, a, b)

    def abs(self, a: Any) -> Any:
        return self.torch.abs(a)

    def exp(self, a: Any) -> Any:
        return self.torch.exp(a)

    def log1p(self, a: Any) -> Any:
        return self.torch.log1p(a)

    def sqrt(self, a: Any) -> Any:
        return self.torch.sqrt(a)

    def tanh(self, a: Any) -> Any:
        return self.torch.tanh(a)

    def erfc(self, a: Any) -> Any:
        return self.torch.erfc(a)

    def sigmoid(self, a: Any) -> Any:
        return self.torch.sigmoid(a)

    def softplus(self, a: Any) -> Any:
        return self.torch.nn.functional.softplus(a)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        # hardtanh: its backward is one vectorized kernel, while clamp's selects (42x a multiply
        # for a two-sided clamp here). Its gradient is 0 at the bounds themselves (relu's is 0
        # at 0 too); ``clamp`` passes it there, and the formulas choose which they need.
        return self.torch.nn.functional.hardtanh(a, float(lo), float(hi))

    def clamp(self, a: Any, lo: float, hi: float) -> Any:
        """Like clip, with the gradient passed at the bounds (a bound may be +-inf)."""
        t = self.torch
        if lo == -math.inf:
            return t.clamp_max(a, hi)
        return t.clamp_min(a, lo) if hi == math.inf else t.clamp(a, lo, hi)

    def relu(self, a: Any) -> Any:
        return self.torch.relu(a)

    def step(self, a: Any) -> Any:
        # sign(relu(a)), not a comparison cast to float (docs/activations.md: its bool output
        # costs more)
        return self.torch.sign(self.torch.relu(a))

    def recip(self, a: Any) -> Any:
        # torch.reciprocal: ``1.0 / a`` runs reciprocal and then a multiply (2.3x one multiply)
        return self.torch.reciprocal(a)


class MpOps:
    """mpmath scalars: the formulas evaluated at arbitrary precision (for tests and checks)."""

    name = "mpmath"

    def __init__(self, dps: int = 60) -> None:
        import mpmath

        mpmath.mp.dps = dps
        self.m = mpmath
        self.eps = mpmath.mpf(10) ** (-dps)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.m.mpf(a) if c else self.m.mpf(b)

    def abs(self, a: Any) -> Any:
        return abs(a)

    def exp(self, a: Any) -> Any:
        return self.m.exp(a)

    def log1p(self, a: Any) -> Any:
        return self.m.log1p(a)

    def sqrt(self, a: Any) -> Any:
        return self.m.sqrt(a)

    def tanh(self, a: Any) -> Any:
        return self.m.tanh(a)

    def erfc(self, a: Any) -> Any:
        return self.m.erfc(a)

    def sigmoid(self, a: Any) -> Any:
        return 1 / (1 + self.m.exp(-a))

    def softplus(self, a: Any) -> Any:
        return self.m.log1p(self.m.exp(a))

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        return min(max(a, self.m.mpf(lo)), self.m.mpf(hi))

    def relu(self, a: Any) -> Any:
        return max(a, self.m.mpf(0))

    clamp = clip

    def step(self, a: Any) -> Any:
        return self.m.mpf(1 if a > 0 else 0)

    def recip(self, a: Any) -> Any:
        return 1 / a


SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
