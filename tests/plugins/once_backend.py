"""A torch backend whose backward refuses to run twice on one graph (as some compiled or
custom backends do), for the engine's forward+backward-minus-forward fallback."""

from __future__ import annotations

import torch

from gembench.backends.torch_eager import AutogradKernel
from gembench.backends.torch_fused import FusedBackend


class _Once(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.used = False
        return torch.relu(x) * 1.0

    @staticmethod
    def backward(ctx, dy):
        if ctx.used:
            raise RuntimeError("this backward can run once per graph")
        ctx.used = True
        (x,) = ctx.saved_tensors
        return dy * (x > 0)


class OnceKernel(AutogradKernel):
    def forward(self, x, out=None):
        return _Once.apply(x)


class OnceBackend(FusedBackend):
    name = "once"

    def build(self, spec, dtype, device):
        return OnceKernel(spec, dtype, device)
