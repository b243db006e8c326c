"""A torch backend whose ReLU is made slow on purpose (it computes ReLU 40 times per call), as a
badly written baseline would be: every other activation then reads faster than its ReLU, and
the anomaly flags must say so."""

from __future__ import annotations

import torch

from gembench.backends.torch_fused import FusedBackend, FusedKernel

REPEATS = 40


class SlowReluKernel(FusedKernel):
    def forward(self, x, out=None):
        if self.spec.name != "relu":
            return super().forward(x, out)
        y = super().forward(x, out)
        for _ in range(REPEATS):
            y = torch.maximum(y, super().forward(x, out))
        return y


class SlowReluBackend(FusedBackend):
    name = "slow_relu"

    def build(self, spec, dtype, device):
        return SlowReluKernel(spec, dtype, device)
