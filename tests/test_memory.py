"""Saved-for-backward bytes are measured (not assumed) and peak memory sees allocations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gembench
from gembench.memory import peak_of, saved_for_backward

N = 1 << 16


def _saved(backend: str, name: str, dtype: str = "float32", **params):
    kern = gembench.backend(backend).build(gembench.activation(name, **params), dtype, "cpu")
    x = torch.randn(N).to(getattr(torch, dtype)).requires_grad_(True)
    return saved_for_backward(lambda: kern.forward(x), x), x.nbytes


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", ["gem", "se_gem", "gelu", "lambda_gelu_learnable"])
def test_fused_saves_exactly_the_input(name: str, dtype: str) -> None:
    rec, nbytes = _saved("torch_fused", name, dtype)
    assert rec["saved_bytes"] == nbytes
    assert rec["saved_bytes_input_alias"] == nbytes


def test_eager_relu_saves_its_output_and_composed_gem_saves_more() -> None:
    rec, nbytes = _saved("torch_eager", "relu")
    assert rec["saved_bytes"] == nbytes and rec["saved_bytes_output_alias"] == nbytes
    rec, nbytes = _saved("torch_eager", "gem", N=2)
    assert rec["saved_bytes"] > 2 * nbytes  # the composed formula keeps its intermediates
    assert rec["saved_tensors"] > 2


def test_saved_bytes_deduplicate_storages() -> None:
    x = torch.randn(N, requires_grad=True)
    rec = saved_for_backward(lambda: (x * x) * x, x)  # x is saved three times, one storage
    assert rec["saved_bytes_input_alias"] == x.nbytes
    assert rec["saved_bytes"] == 2 * x.nbytes  # x and x*x


def test_peak_sees_a_large_temporary() -> None:
    def fn():
        t = torch.ones(16 << 20)  # 64 MiB, touched
        return float(t[-1])

    rec = peak_of(fn, "cpu")
    assert rec["peak_bytes"] is not None and rec["peak_bytes"] >= 60 * 2**20
    small = peak_of(lambda: np.ones(16).sum(), "cpu")
    assert small["peak_bytes"] < 8 * 2**20
