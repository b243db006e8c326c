"""Two names for one GEM implementation, and a third made slower on purpose, for ``gembench ab``
and the A/A benchmark: ``ab_gem`` and ``ab_gem_twin`` are the same kernel; ``ab_gem_slow``
recomputes the activation ``GEMBENCH_TEST_SLOWDOWN`` (default 0.2) times more: on the first 20%
of the tensor for 0.2, on the whole tensor 7 times for 7, so it costs about that much more."""

from __future__ import annotations

import os

import torch

import gembench
from gembench.activations.catalog import activation
from gembench.activations.ops import TorchOps


def _gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return activation("gem", N=N).forward(TorchOps(x.dtype), x)


@gembench.register_implementation(name="ab_gem", activations=["gem"], dtypes=["float32"])
def ab_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return _gem(x, N)


@gembench.register_implementation(name="ab_gem_twin", activations=["gem"], dtypes=["float32"])
def ab_gem_twin(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return _gem(x, N)


@gembench.register_implementation(name="ab_gem_slow", activations=["gem"], dtypes=["float32"])
def ab_gem_slow(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    y = _gem(x, N)
    more = float(os.environ.get("GEMBENCH_TEST_SLOWDOWN", "0.2"))
    flat = x.reshape(-1)
    for _ in range(int(more)):  # the same work again, its result discarded
        _gem(flat, N)
    extra = int(flat.numel() * (more - int(more)))
    if extra:
        _gem(flat[:extra], N)
    return y
