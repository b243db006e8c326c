"""The kernel contract (gembench/backends/base.py): learnable parameters are nn.Parameters that
autograd differentiates, and what a kernel saves for backward is a typed value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import gembench
from gembench.activations.ops import NumpyOps
from gembench.backends.base import Kernel, Saved

LEARNABLE = gembench.activation("lambda_gelu_learnable", s=0.3, t=0.5)


def _reference_ds(x: np.ndarray, dy: np.ndarray) -> float:
    terms = LEARNABLE.param_grad_terms(NumpyOps(np.float64), x, dy)
    return float(np.sum(terms["s"]))


@pytest.mark.parametrize("name", ["torch_eager", "torch_fused"])
def test_learnable_s_is_a_parameter_with_a_gradient(name: str) -> None:
    kern = gembench.backend(name).build(LEARNABLE, dtype="float64", device="cpu")
    s = kern.params["s"]
    assert isinstance(s, nn.Parameter) and s.requires_grad
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    dy = torch.cos(x)
    (ds,) = torch.autograd.grad(kern.forward(x), [s], dy)
    want = _reference_ds(x.numpy(), dy.numpy())
    assert ds.item() == pytest.approx(want, rel=1e-10)
    assert abs(want) > 1e-3  # the check means something


@pytest.mark.parametrize("name", ["torch_eager", "torch_fused"])
def test_a_module_wrapping_the_kernel_registers_s_and_gets_dlds(name: str) -> None:
    """A user's module (here a block of the engine) sees s among its parameters."""
    from gembench.engine.contexts.torch_blocks import build_block
    from gembench.engine.measuring.passes import TimedPass

    kern = gembench.backend(name).build(LEARNABLE, dtype="float64", device="cpu")
    block = build_block("mlp", (4, 8, 16), kern, "float64", "cpu")
    assert any(p is kern.params["s"] for p in block.parameters())
    x = torch.randn(4, 8, dtype=torch.float64)
    params = [p for p in block.parameters() if p.requires_grad]
    grads = TimedPass(block, "forward_backward", x, torch.ones(4, 8, dtype=torch.float64),
                      params=params, train=block.train).run()
    ds = grads[1 + next(i for i, p in enumerate(params) if p is kern.params["s"])]
    assert torch.isfinite(ds) and ds.abs().item() > 0


def test_fixed_activations_have_no_params() -> None:
    kern = gembench.backend("torch_eager").build(gembench.activation("gem"), "float32", "cpu")
    assert kern.params == {}


def test_saved_is_typed_and_reads_the_legacy_prose() -> None:
    numpy_kern = gembench.backend("numpy").build(gembench.activation("gem"), "float64", "cpu")
    assert numpy_kern.saves.what == "x" and numpy_kern.saves.input_only
    assert numpy_kern.saved_for_backward.startswith("x ")  # old readers keep working
    assert Saved.parse("x (by construction)") == Saved("x", "by construction")
    assert Saved.parse("") == Saved("unknown", "")
    assert Saved.parse("whatever").what == "unknown"
    assert str(Saved("y", "by construction")) == "y (by construction)"
    with pytest.raises(ValueError, match=r"Saved\.what"):
        Saved("everything")  # type: ignore[arg-type]


def test_a_kernel_declaring_saves_gets_the_legacy_string() -> None:
    class K(Kernel):
        saves = Saved("x_and_y", "keeps both")

        def forward(self, x, out=None):
            return x

        def grads(self, x, dy):
            return dy, {}

    kern = K(gembench.activation("relu"), "float32", "cpu")
    assert kern.saved_for_backward == "x_and_y (keeps both)"
    assert kern.params == {}
