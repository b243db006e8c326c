"""Implementations registered from outside gembench, for tests/test_plugins.py.

``test_gem``: forward and backward as two functions (not autograd), saves x.
``test_gem_kernel``: a Kernel subclass (grads by autograd through the catalog formula).
``test_off_gem``: 1% off, so that the correctness gate must fail it.
"""

from __future__ import annotations

import torch

import gembench
from gembench.activations.ops import TorchOps
from gembench.backends.torch_eager import AutogradKernel


def _gate(x: torch.Tensor, n: int) -> torch.Tensor:
    xp = x.clamp(min=0)
    big = xp > 1
    q = torch.where(big, 1 / torch.where(big, xp, 1), xp) ** (2 * n)
    return torch.where(big, 1 / (1 + q), q / (1 + q))


def _backward(dy: torch.Tensor, *, x: torch.Tensor, N: int = 1) -> torch.Tensor:
    g = _gate(x, int(N))
    return dy * g * (1 + 2 * N * (1 - g))


@gembench.register_implementation(name="test_gem", activations=["gem"],
                                  dtypes=["float64", "float32"], autograd=False,
                                  backward=_backward, saves="x")
def test_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    """GEM as two hand-written functions."""
    return x.clamp(min=0) * _gate(x, int(N))


@gembench.register_implementation(name="test_off_gem", activations=["gem"])
def test_off_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return 1.01 * x.clamp(min=0) * _gate(x, int(N))


@gembench.register_implementation(name="test_gem_kernel", activations=["gem", "e_gem"],
                                  dtypes=["float32"], saves="unknown")
class TestGemKernel(AutogradKernel):
    """The catalog formula in torch ops, as a Kernel subclass."""

    def forward(self, x, out=None):
        return self.spec.forward(TorchOps(x.dtype), x)
