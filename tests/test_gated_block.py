"""The gated MLP block context (gembench/engine/contexts/gated_block.py): fused gate products
give the gradients of the unfused form, save less, and a case measures end to end."""

from __future__ import annotations

import pytest
import torch

import gembench
from gembench.engine.contexts.gated_block import GATE_PRODUCTS, build_gated
from gembench.engine.measuring.memory import saved_for_backward
from gembench.engine.running.group import measure_one
from gembench.spec.cases import Case
from gembench.spec.contexts import context_spec
from gembench.spec.policy import Timing

SHAPE = (6, 8, 24)  # tokens, d, d_ff
TIMING = Timing(budget_s=0.02, min_samples=3, warmup=1, error_elements=1024)


def _block(backend: str, act: str, dtype: str = "float64", **params: float):
    spec = gembench.activation(act, **params)
    be = gembench.backend(backend)
    be.reset()
    return build_gated(SHAPE, be.build(spec, dtype=dtype, device="cpu"), backend, dtype, "cpu")


def _grads(block: torch.nn.Module, x: torch.Tensor, dy: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    y = block(x)
    gs = torch.autograd.grad(y, [x, *block.parameters()], dy)
    return y.detach(), gs


@pytest.mark.parametrize("backend", sorted(GATE_PRODUCTS))
@pytest.mark.parametrize("act", ["gem", "silu", "squareplus"])
def test_fused_gate_products_match_autograd_through_the_unfused_form(backend, act):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE[:2], generator=gen, dtype=torch.float64) * 2
    dy = torch.randn(SHAPE[:2], generator=gen, dtype=torch.float64)
    want_y, want = _grads(_block("torch_eager", act), x, dy)
    got_y, got = _grads(_block(backend, act), x, dy)
    torch.testing.assert_close(got_y, want_y, rtol=1e-12, atol=1e-12)
    assert len(got) == len(want) == 4  # x, W_gate, W_up, W_down
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_the_fused_gate_product_saves_less_than_the_eager_one():
    x = torch.randn(SHAPE[:2], dtype=torch.float32, requires_grad=True)
    saved = {b: saved_for_backward(lambda b=b: _block(b, "gem", "float32")(x), x)["saved_bytes"]
             for b in ("torch_eager", "torch_fused")}
    g_bytes = SHAPE[0] * SHAPE[2] * 4
    assert saved["torch_fused"] < saved["torch_eager"]
    assert saved["torch_eager"] - saved["torch_fused"] >= g_bytes  # f(g) is not kept


def test_a_wrong_fused_derivative_is_caught():
    """The gradient check above is able to fail: a gate product with f' off by 1 %."""
    gen = torch.Generator().manual_seed(1)
    x, dy = (torch.randn(SHAPE[:2], generator=gen, dtype=torch.float64) for _ in range(2))
    block = _block("torch_fused", "gem")
    wrong = block.product
    block.product = lambda g, u: wrong(g, u) * 1.01
    with pytest.raises(AssertionError):
        torch.testing.assert_close(_grads(block, x, dy)[1][1],
                                   _grads(_block("torch_eager", "gem"), x, dy)[1][1])


def test_presets_and_context():
    spec = context_spec("gated_mlp_block")
    assert set(spec.presets) == {"llama7b_glu", "small_glu"}
    assert spec.resolve("llama7b_glu", "cpu") == (256, 4096, 11008)
    assert spec.resolve("llama7b_glu", "cuda")[1:] == (4096, 11008)


@pytest.mark.parametrize("backend", ["torch_fused", "torch_eager"])
def test_a_gated_case_measures_with_saved_bytes_and_the_reglu_baseline(backend):
    case = Case(backend=backend, activation="gem", shape=SHAPE, pass_="forward_backward",
                context="gated_mlp_block")
    rec = measure_one(case, TIMING, 0)
    assert rec.status == "ok", rec.reason
    assert rec.timing.relu.count == rec.timing.count  # timed against ReGLU, round by round
    assert rec.memory.saved_bytes > 0 and rec.memory.relu_saved_bytes > 0
    assert rec.block.activation_shape == [SHAPE[0], SHAPE[2]]
    assert rec.pass_note.startswith("gate product")
