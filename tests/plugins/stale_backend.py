"""A torch backend whose kernel stops computing after a few calls (returns its input), as a
kernel that is fast because it skips its work would: for the post-timing recheck."""

from __future__ import annotations

from gembench.backends.torch_fused import FusedBackend, FusedKernel

GOOD_CALLS = 20


class StaleKernel(FusedKernel):
    calls = 0

    def forward(self, x, out=None):
        StaleKernel.calls += 1
        if StaleKernel.calls > GOOD_CALLS:
            return x * 1.0  # stopped computing: the input comes back
        return super().forward(x, out)


class StaleBackend(FusedBackend):
    name = "stale"

    def build(self, spec, dtype, device):
        return StaleKernel(spec, dtype, device)
