"""A user's own GEM kernels, registered with gembench without writing a backend.

- ``my_fused_gem``: a hand-written ``torch.autograd.Function`` (one stable forward, the analytic
  derivative as backward, saves only x). Autograd differentiates it through its own backward.
- ``my_triton_gem``: a Triton kernel pair given as forward and backward functions
  (``autograd=False``: gembench wraps them and hands backward what ``saves`` declares). It runs
  on CUDA only, so on a CPU machine its cases are skipped with that reason.

GEM(N): f(x) = x^(2N+1) / (1 + x^(2N)) for x > 0, else 0, evaluated as x * g with the gate
g = u / (1 + u), u = x^(2N) (for x <= 1) or g = 1 / (1 + r^(2N)), r = 1/x (for x > 1), so no
intermediate overflows; f'(x) = g * (1 + 2N * (1 - g)) for x > 0, else 0.
"""

from __future__ import annotations

from typing import Any

import torch

import gembench


def _gate(x: torch.Tensor, n: int) -> torch.Tensor:
    """g(x) for x > 0 (0 elsewhere), computed in float32 or float64."""
    xp = x.clamp(min=0)
    big = xp > 1
    r = torch.where(big, 1 / torch.where(big, xp, 1), xp)
    q = r ** (2 * n)
    return torch.where(big, 1 / (1 + q), q / (1 + q))


class _FusedGem(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, n: int) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.n = n
        xc = x if x.dtype == torch.float64 else x.float()
        return (xc.clamp(min=0) * _gate(xc, n)).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        (x,) = ctx.saved_tensors
        xc = x if x.dtype == torch.float64 else x.float()
        g = _gate(xc, ctx.n)
        return (dy * (g * (1 + 2 * ctx.n * (1 - g)))).to(x.dtype), None


@gembench.register_implementation(
    name="my_fused_gem", activations=["gem"], dtypes=["float64", "float32", "bfloat16"],
    devices=["cpu", "cuda"], autograd=True, saves="x",
    summary="hand-written autograd.Function, stable gate, saves only x")
def my_fused_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return _FusedGem.apply(x, int(N))


# ---- a Triton kernel (CUDA only; skipped with its reason elsewhere)

try:
    import triton
    import triton.language as tl
except ImportError:  # gembench lists my_triton_gem as unavailable: "needs triton"
    triton = None

if triton is not None:

    @triton.jit
    def _gem_kernel(x_ptr, dy_ptr, out_ptr, n_elements, N2: tl.constexpr,
                    BACKWARD: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elements
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        xp = tl.maximum(x, 0.0)
        big = xp > 1.0
        r = tl.where(big, 1.0 / tl.where(big, xp, 1.0), xp)
        q = r
        for _ in tl.static_range(N2 - 1):
            q = q * r
        g = tl.where(big, 1.0 / (1.0 + q), q / (1.0 + q))
        if BACKWARD:
            dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            out = dy * g * (1.0 + N2 * (1.0 - g))
        else:
            out = xp * g
        tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


def _launch(x: torch.Tensor, dy: torch.Tensor | None, n: int) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    grid = (triton.cdiv(x.numel(), 1024),)
    _gem_kernel[grid](x, x if dy is None else dy.contiguous(), out, x.numel(), N2=2 * n,
                      BACKWARD=dy is not None, BLOCK=1024)
    return out


def _triton_backward(dy: torch.Tensor, *, x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return _launch(x, dy, int(N))


@gembench.register_implementation(
    name="my_triton_gem", activations=["gem"], dtypes=["float32", "float16", "bfloat16"],
    devices=["cuda"], autograd=False, backward=_triton_backward, saves="x",
    requires=["triton"], summary="hand-written Triton kernel pair, one pass each way")
def my_triton_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    return _launch(x, None, int(N))
