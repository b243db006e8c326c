"""Whole models: the activation swap, identical weights, the passes, the activation's share."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import gembench
import gembench.spec.model_presets as model_presets
from gembench.engine.contexts.models import (
    ModelUnavailable,
    build_model,
    kernel_activation,
    same_weights,
)
from gembench.engine.contexts.torch_blocks import KernelActivation
from gembench.engine.running.group import measure_one
from gembench.spec.cases import Case
from gembench.spec.contexts import context_spec
from gembench.spec.policy import Timing

QUICK = Timing(budget_s=0.2, min_samples=3, max_samples=20, warmup=1)
TINY = ["resnet8_tiny", "gpt2_tiny", "llama_tiny"]


def _need(preset: str) -> None:
    why = model_presets.preset_missing(preset)
    if why:
        pytest.skip(why)


def _gem() -> nn.Module:
    kern = gembench.backend("torch_fused").build(gembench.activation("gem"), dtype="float32",
                                                 device="cpu")
    return KernelActivation(kern)


def test_resnet56_has_the_papers_architecture() -> None:
    m = build_model("resnet56_b8", nn.ReLU)
    assert len(m.sites) == 1 + 2 * 27  # stem + two per basic block, 3 stages x 9 blocks
    # 0.85M weights, He et al. table 6 (option A shortcuts carry none)
    assert sum(p.numel() for p in m.model.parameters()) == pytest.approx(0.85e6, rel=0.01)


@pytest.mark.parametrize("preset", TINY)
def test_same_weights_for_any_activation_and_every_site_swapped(preset: str) -> None:
    _need(preset)
    relu, gem = build_model(preset, nn.ReLU), build_model(preset, _gem)
    assert same_weights(relu, gem)
    assert all(isinstance(s, KernelActivation) for s in gem.sites)
    assert all(torch.equal(a, b) for a, b in zip(relu.inputs, gem.inputs))
    other = build_model(preset, nn.ReLU, seed=1)
    assert not same_weights(relu, other)
    # the swapped activation is the one that runs
    with torch.no_grad():
        y_relu, y_gem = relu.inference()(), gem.inference()()
    y_relu, y_gem = (getattr(y, "logits", y) for y in (y_relu, y_gem))
    assert not torch.allclose(y_relu, y_gem)


@pytest.mark.parametrize("preset", TINY)
def test_train_step_keeps_weights_at_zero_learning_rate(preset: str) -> None:
    _need(preset)
    m = build_model(preset, _gem)
    before = {k: v.detach().clone() for k, v in m.model.named_parameters()}
    loss = m.train_step()()
    assert torch.isfinite(loss)
    grads = [p.grad for p in m.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(torch.equal(v, before[k]) for k, v in m.model.named_parameters())
    assert m.optimizer.state  # the optimizer did step (its state exists)


def _model_case(preset: str, activation: str = "gelu", **kw: object) -> Case:
    return Case(backend="torch_eager", activation=activation, context="model", preset=preset,
                shape=model_presets.PRESETS[preset].shape, **kw)


def test_engine_times_the_model_against_its_relu_model() -> None:
    out = measure_one(_model_case("resnet8_tiny", pass_="forward_backward"), QUICK, 0)
    assert out.status == "ok", out.reason
    assert "7 call sites: 3 x [2, 16, 32, 32], 2 x [2, 32, 16, 16]" in out.pass_note
    ratio = out.timing.ratio_to_relu  # per-round ratios of two different models: never exactly 1
    assert ratio.median > 0 and ratio.median != 1.0 and ratio.count >= 3
    assert 0 < out.block.activation_share < 1
    # GELU saves its input where ReLU's saved output is aliased by the next layer
    assert out.memory.saved_bytes > out.memory.relu_saved_bytes > 0
    assert out.error.backward_eps is not None and out.error.recheck.ok


def test_model_context_is_registered_with_its_presets() -> None:
    ctx = context_spec("model")
    assert set(ctx.presets) == set(model_presets.PRESETS)
    assert ctx.resolve("gpt2_small_2l", "cpu") == (1, 128, 2)
    assert ctx.allows("forward_backward") and not ctx.allows("backward")


def test_bfloat16_inference_runs() -> None:
    m = build_model("resnet8_tiny", nn.GELU, dtype="bfloat16")
    assert m.inference()().dtype == torch.bfloat16


def test_without_transformers_gpt2_is_skipped_with_the_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import raises ImportError
    why = model_presets.preset_missing("gpt2_tiny")
    assert why and "gembench[models]" in why
    with pytest.raises(ModelUnavailable, match="gembench\\[models\\]"):
        build_model("gpt2_tiny", nn.ReLU)
    assert model_presets.preset_missing("resnet8_tiny") is None
    out = measure_one(_model_case("gpt2_tiny"), QUICK, 0)
    assert out.status == "skipped" and "gembench[models]" in out.reason


def test_one_kernel_per_shape_shared_by_every_call_site() -> None:
    built = []

    def build() -> object:
        built.append(1)
        return gembench.backend("torch_fused").build(gembench.activation("se_gem"),
                                                     dtype="float32", device="cpu")

    m = build_model("resnet8_tiny", kernel_activation(build))
    m.train_step()()
    m.inference()()
    assert len(m.sites) == 7 and len(built) == 3  # 16x32x32, 32x16x16, 64x8x8


def test_llama_gate_is_the_swapped_activation() -> None:
    """Llama's MLP is gated: the activation sits at act_fn, one site per layer, and its input
    is the gate projection (tokens x intermediate size)."""
    _need("llama_tiny")
    m = build_model("llama_tiny", _gem)
    assert [layer.mlp.act_fn for layer in m.model.model.layers] == m.sites
    assert dict(m.activation_shapes()) == {(1, 32, 172): 1}


def test_whole_model_compile_computes_the_eager_loss() -> None:
    """Model.compile() compiles the whole model (dynamo captures graphs) and the training step
    gives the eager model's loss and gradients."""
    torch._dynamo.reset()
    eager, compiled = build_model("resnet8_tiny", _gem), build_model("resnet8_tiny", _gem)
    compiled.compile()
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    want, got = eager.train_step()(), compiled.train_step()()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > before
    assert compiled.eager is not compiled.model
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    g_want = eager.model.conv.weight.grad
    torch.testing.assert_close(compiled.eager.conv.weight.grad, g_want, rtol=1e-3, atol=1e-5)


def test_model_compiled_context_says_its_mode_and_skips_triton() -> None:
    ctx = context_spec("model_compiled")
    assert set(ctx.presets) == set(model_presets.PRESETS)
    from types import SimpleNamespace

    from gembench.engine.contexts.model_context import CompiledModelSubject, ModelSubject

    assert "whole model compiled" in CompiledModelSubject.mode
    assert "eager model" in ModelSubject.mode
    triton = SimpleNamespace(case=SimpleNamespace(backend="triton"))
    assert "whole-model compile" in CompiledModelSubject.not_compilable(triton)
    assert ModelSubject.not_compilable(triton) is None
