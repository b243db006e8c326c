"""Hand-written Triton kernels for every activation in the catalog, forward and backward.

Import this module only after ``TRITON_INTERPRET`` has its final value: ``triton.jit`` decides
at decoration time whether a kernel is compiled or run by the interpreter (:data:`INTERPRET`).

Layout: one ``@triton.jit`` device function per activation and pass (``_relu_fwd``,
``_gem_pos_bwd``, ... in :mod:`gembench.backends.triton_math`), written in the same numerically
stable algebraic forms as :mod:`gembench.activations.catalog`, and two elementwise kernels
that pick one of them with the compile-time string ``ACT``, so each activation compiles to its
own specialised kernel:

- :func:`_forward_kernel`: reads x, computes in float32, writes y in the input dtype;
- :func:`_backward_kernel`: reads x and dy, writes dx = dy * f'(x) in one pass; for
  ``lambda_gelu_learnable`` (``REDUCE``) each program also writes its partial sum of
  dL/ds = sum dy * x^2 phi(lam x) * sigmoid(s/t) / t to a small buffer, summed afterwards.

Parameters reach the kernels as follows: the GEM shape ``N`` is a ``tl.constexpr`` (integer
powers are unrolled into repeated multiplications), ``eps`` and ``lam`` are runtime float32
scalars (no recompilation per value), and the learnable lambda is computed inside the kernel
from a pointer to the parameter ``s`` (lam = 1 + softplus(s/t)): no host synchronisation.

Transcendentals: the GEM family uses only +, -, *, / (IEEE division, ``tl.math.div_rn``) and
comparisons. The baselines use ``exp`` and ``erf`` only, the functions both the compiler and
the interpreter provide: sigmoid as 1/(1+e) or e/(1+e) with e = exp(-|x|), tanh as
(1-e)/(1+e) with e = exp(-2|a|) (and 1 - |tanh| = 2e/(1+e) without cancellation),
tanh(softplus(x)) = n/(n+2) with n = e^x (e^x + 2), and Phi(z) = (1 + erf(z/sqrt 2))/2, which is
accurate to float32 rounding in absolute terms (the catalog's erfc form is also accurate
relative to Phi's value in the far left tail; Triton's portable math has no erfc).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl

from gembench.backends.triton_math import (
    _cdf,
    _clip_z,
    _gelu_tanh_bwd,
    _gelu_tanh_fwd,
    _gem_pos_bwd,
    _gem_pos_fwd,
    _learnable_lam,
    _lgelu_bwd,
    _lgelu_fwd,
    _mish_bwd,
    _mish_fwd,
    _pdf,
    _relu_bwd,
    _relu_fwd,
    _se_gem_bwd,
    _se_gem_fwd,
    _silu_bwd,
    _silu_fwd,
)

#: True when the kernels run in Triton's interpreter (decided once, at import).
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

#: activations the kernels implement (``ACT`` values).
ACTIVATIONS = (
    "relu", "gelu", "gelu_tanh", "silu", "mish", "lambda_gelu", "lambda_gelu_learnable",
    "gem", "e_gem", "se_gem",
)

_GEM_1 = "branch-free rational: clamp + 1 division, no select"
#: how each kernel evaluates its activation (shown in the backend's facts).
FORMULATION = {
    "relu": "tl.maximum(x, 0); f' = (x > 0)",
    "gelu": "x Phi(x) via erf; clamp, no select",
    "gelu_tanh": "tanh from exp(-2|a|), 1 - tanh^2 without cancellation",
    "silu": "sigmoid from exp(-|x|)",
    "mish": "x n/(n+2), n = e^x (e^x + 2); 1 exp, 1 division",
    "lambda_gelu": "x Phi(lam x) via erf; clamp, no select",
    "lambda_gelu_learnable": "x Phi(lam x) via erf; clamp, no select; in-kernel dL/ds partials",
    "gem": _GEM_1,
    "e_gem": _GEM_1,
    "se_gem": "branch-free rational: clamp/max + 2 divisions, no select",
}

# (BLOCK, num_warps). On a GPU the autotuner picks per (n_elements, activation, N, dtype); the
# interpreter runs a single fixed configuration (timing there means nothing).
GPU_CONFIGS = ((1024, 4), (2048, 4), (2048, 8), (4096, 8), (8192, 16))
INTERPRETER_CONFIG = (1024, 4)
CONFIGS = (INTERPRETER_CONFIG,) if INTERPRET else GPU_CONFIGS
MIN_BLOCK = min(block for block, _ in CONFIGS)



@triton.jit
def _load_f32(ptr, offs, mask, BF16_BITS: tl.constexpr):
    """Load as float32. ``BF16_BITS``: ``ptr`` holds bfloat16 bit patterns as int16, widened
    exactly by a shift (the interpreter's own bfloat16 conversion drops subnormals)."""
    if BF16_BITS:
        bits = tl.load(ptr + offs, mask=mask, other=0).to(tl.uint16, bitcast=True)
        v = (bits.to(tl.uint32) << 16).to(tl.float32, bitcast=True)
    else:
        v = tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)
    return v


@triton.jit
def _store_f32(ptr, offs, v, mask, BF16_BITS: tl.constexpr):
    """Store float32 ``v`` rounded once to the destination dtype. ``BF16_BITS``: round to
    bfloat16 to nearest-even by integer arithmetic (the interpreter's conversion truncates and
    mangles subnormals) and store the bit pattern as int16."""
    if BF16_BITS:
        bits = v.to(tl.uint32, bitcast=True)
        r = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        r = tl.where(v != v, 0x7FC0, r)  # NaN stays a (quiet) NaN
        tl.store(ptr + offs, r.to(tl.uint16).to(tl.int16, bitcast=True), mask=mask)
    else:
        tl.store(ptr + offs, v.to(ptr.dtype.element_ty), mask=mask)


# --------------------------------------------------------------------------- kernels


def _autotuned(fn: Any, key: list[str]) -> Any:
    configs = [triton.Config({"BLOCK": b}, num_warps=w) for b, w in CONFIGS]
    return triton.autotune(configs=configs, key=key)(fn)


@triton.jit
def _forward_kernel(x_ptr, y_ptr, s_ptr, n_elements, lam, eps, inv_eps, tclamp, t,
                    ACT: tl.constexpr, N: tl.constexpr, BF16_BITS: tl.constexpr,
                    BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    x = _load_f32(x_ptr, offs, mask, BF16_BITS)
    if ACT == "relu":
        y = _relu_fwd(x)
    elif ACT == "gelu":
        y = _lgelu_fwd(x, 1.0)
    elif ACT == "gelu_tanh":
        y = _gelu_tanh_fwd(x)
    elif ACT == "silu":
        y = _silu_fwd(x)
    elif ACT == "mish":
        y = _mish_fwd(x)
    elif ACT == "lambda_gelu":
        y = _lgelu_fwd(x, lam)
    elif ACT == "lambda_gelu_learnable":
        lam_s, _ = _learnable_lam(s_ptr, t)
        y = _lgelu_fwd(x, lam_s)
    elif ACT == "gem" or ACT == "e_gem":
        y = _gem_pos_fwd(x, inv_eps, tclamp, 2 * N)
    else:
        tl.static_assert(ACT == "se_gem", "unknown activation")
        y = _se_gem_fwd(x, eps, inv_eps, tclamp, N)
    _store_f32(y_ptr, offs, y, mask, BF16_BITS)


@triton.jit
def _backward_kernel(x_ptr, dy_ptr, dx_ptr, partial_ptr, s_ptr, n_elements, lam, eps, inv_eps,
                     tclamp, t,
                     ACT: tl.constexpr, N: tl.constexpr, REDUCE: tl.constexpr,
                     BF16_BITS: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    x = _load_f32(x_ptr, offs, mask, BF16_BITS)
    dy = _load_f32(dy_ptr, offs, mask, BF16_BITS)
    if ACT == "relu":
        d = _relu_bwd(x)
    elif ACT == "gelu":
        d = _lgelu_bwd(x, 1.0)
    elif ACT == "gelu_tanh":
        d = _gelu_tanh_bwd(x)
    elif ACT == "silu":
        d = _silu_bwd(x)
    elif ACT == "mish":
        d = _mish_bwd(x)
    elif ACT == "lambda_gelu":
        d = _lgelu_bwd(x, lam)
    elif ACT == "lambda_gelu_learnable":
        lam_s, sig = _learnable_lam(s_ptr, t)
        _, zc = _clip_z(x, lam_s)
        zphi = zc * _pdf(zc)
        d = _cdf(zc) + zphi
        if REDUCE:
            # dy * x^2 phi(lam x) * sig / t, with x^2 phi(z) = z (z phi(z)) / lam^2
            term = tl.where(mask, dy * (zc * zphi), 0.0)
            tl.store(partial_ptr + pid, tl.sum(term, axis=0) * (sig / (t * lam_s * lam_s)))
    elif ACT == "gem" or ACT == "e_gem":
        d = _gem_pos_bwd(x, inv_eps, tclamp, 2 * N)
    else:
        tl.static_assert(ACT == "se_gem", "unknown activation")
        d = _se_gem_bwd(x, eps, inv_eps, tclamp, N)
    _store_f32(dx_ptr, offs, dy * d, mask, BF16_BITS)


_forward = _autotuned(_forward_kernel, ["n_elements", "ACT", "N"])
_backward = _autotuned(_backward_kernel, ["n_elements", "ACT", "N", "REDUCE"])


def _bits(a: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """In the interpreter, bfloat16 tensors travel as their int16 bit patterns."""
    if INTERPRET and a.dtype == torch.bfloat16:
        return a.view(torch.int16), True
    return a, False


# --------------------------------------------------------------------------- launchers


@dataclass(frozen=True)
class KernelParams:
    """What one activation passes to the kernels: ``act`` and ``n`` select the compiled
    specialisation; ``lam``, ``eps`` and ``t`` are runtime scalars."""

    act: str
    n: int = 1
    lam: float = 1.0
    eps: float = 1.0
    t: float = 1.0

    @property
    def inv_eps(self) -> float:
        return 1.0 / self.eps

    @property
    def tclamp(self) -> float:
        """T: beyond x/eps = T the gate rounds to 1 in float32 (T^(2N) >= 16/eps_f32)."""
        return (16.0 / 2.0**-23) ** (1.0 / (2 * self.n))

    @classmethod
    def from_spec(cls, name: str, params: dict[str, Any]) -> KernelParams:
        if name not in ACTIVATIONS:
            raise ValueError(f"no Triton kernel for activation {name!r}")
        return cls(
            act=name,
            n=int(params.get("N", 1)),
            lam=float(params.get("lam", 1.0)),
            eps=float(params.get("eps", 1.0)),
            t=float(params.get("t", 1.0)),
        )


def forward(kp: KernelParams, x: torch.Tensor, y: torch.Tensor,
            s: torch.Tensor | None = None) -> torch.Tensor:
    """y = f(x); x and y contiguous, same shape and dtype (y may be preallocated)."""
    n = x.numel()
    if n:
        grid = lambda meta: (triton.cdiv(n, meta["BLOCK"]),)  # noqa: E731
        (xk, bits), (yk, _) = _bits(x), _bits(y)
        _forward[grid](xk, yk, x if s is None else s, n, kp.lam, kp.eps, kp.inv_eps,
                       kp.tclamp, kp.t,
                       ACT=kp.act, N=kp.n, BF16_BITS=bits)
    return y


def backward(kp: KernelParams, x: torch.Tensor, dy: torch.Tensor,
             s: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(dx, ds): dx = dy * f'(x) in one pass; ds = dL/ds (a full reduction) when ``s`` is given
    (learnable lambda-GELU), else None. x and dy contiguous, same shape and dtype."""
    n = x.numel()
    dx = torch.empty_like(x)
    reduce = s is not None
    if not n:
        return dx, (torch.zeros_like(s, dtype=torch.float32) if reduce else None)
    programs = [0]

    def grid(meta: dict[str, Any]) -> tuple[int]:
        programs[0] = triton.cdiv(n, meta["BLOCK"])  # the last call is the real launch
        return (programs[0],)

    partial = torch.empty(triton.cdiv(n, MIN_BLOCK) if reduce else 1, dtype=torch.float32,
                          device=x.device)
    (xk, bits), (dyk, _), (dxk, _) = _bits(x), _bits(dy), _bits(dx)
    _backward[grid](xk, dyk, dxk, partial, x if s is None else s, n, kp.lam, kp.eps,
                    kp.inv_eps, kp.tclamp, kp.t, ACT=kp.act, N=kp.n, REDUCE=reduce, BF16_BITS=bits)
    ds = partial[: programs[0]].sum().reshape(s.shape) if reduce else None
    return dx, ds


def chosen_config(which: str = "forward") -> tuple[int, int] | None:
    """(BLOCK, num_warps) of the latest launch of the forward or backward kernel (any
    activation), or None before the first."""
    tuner = _forward if which == "forward" else _backward
    config = getattr(tuner, "best_config", None)
    if config is None:
        return None
    return int(config.kwargs["BLOCK"]), int(config.num_warps)
