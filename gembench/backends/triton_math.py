"""Triton device functions: the activations' math, in the catalog's algebraic forms.

:mod:`gembench.backends.triton_kernels` builds its two elementwise kernels from these. Import
only after ``TRITON_INTERPRET`` has its final value (``triton.jit`` decides at decoration time).
"""

from __future__ import annotations

import math

import triton
import triton.language as tl

# Globals read by @triton.jit functions must be constexpr.
_SQRT_HALF = tl.constexpr(math.sqrt(0.5))
_INV_SQRT_2PI = tl.constexpr(1.0 / math.sqrt(2.0 * math.pi))
_K_TANH = tl.constexpr(math.sqrt(2.0 / math.pi))
_A_TANH = tl.constexpr(0.044715)
_TANH_CLIP = tl.constexpr(20.0)  # tanh(k (x + 0.044715 x^3)) == +-1 exactly beyond this
_Z_CLIP = tl.constexpr(40.0)  # |z| beyond which Phi(z) is exactly 0 or 1 and z*phi(z) == 0
_MISH_LO = tl.constexpr(1000.0)  # exp(-x) == 0 beyond
_MISH_CLIP = tl.constexpr(40.0)  # tanh(softplus(x)) == 1, x (1 - tanh^2) sigmoid(x) ~ 0 beyond


# --------------------------------------------------------------------------- shared helpers


@triton.jit
def _ipow(a, n: tl.constexpr):
    """a**n for a compile-time positive integer n, as repeated multiplication."""
    r = a
    for _ in tl.static_range(n - 1):
        r = r * a
    return r


@triton.jit
def _div(a, b):
    """IEEE round-to-nearest division (the default fp32 division on NVIDIA is approximate and
    may flush subnormals; the GEM family promises relative accuracy down to them)."""
    return tl.math.div_rn(a, b)


@triton.jit
def _clamp(x, lo, hi):
    return tl.minimum(tl.maximum(x, lo), hi)


@triton.jit
def _sigmoid_parts(x):
    """(sigmoid(x), 1 - sigmoid(x)), both accurate in both tails, never overflowing."""
    e = tl.exp(-tl.abs(x))
    inv = 1.0 / (1.0 + e)
    pos = x >= 0
    s = tl.where(pos, inv, e * inv)
    sc = tl.where(pos, e * inv, inv)
    return s, sc


@triton.jit
def _cdf(z):
    """Standard normal CDF."""
    return 0.5 + 0.5 * tl.math.erf(z * _SQRT_HALF)


@triton.jit
def _pdf(z):
    return _INV_SQRT_2PI * tl.exp(-0.5 * z * z)


@triton.jit
def _clip_z(x, lam):
    """(z, zc): z = lam*x with x first clipped so z never overflows (lam >= 1, so |z| > 40
    exactly when |lam x| > 40), and zc = z clipped to +-40."""
    z = lam * _clamp(x, -_Z_CLIP - 1.0, _Z_CLIP + 1.0)
    return z, _clamp(z, -_Z_CLIP, _Z_CLIP)


@triton.jit
def _learnable_lam(s_ptr, t):
    """(lam, sigmoid(s/t)) for lam = 1 + softplus(s/t), from the parameter s in memory."""
    z = tl.load(s_ptr).to(tl.float32) / t
    e = tl.exp(-tl.abs(z))
    lam = 1.0 + tl.maximum(z, 0.0) + tl.log(1.0 + e)
    sig = tl.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return lam, sig


# --------------------------------------------------------------------------- baselines


@triton.jit
def _relu_fwd(x):
    return tl.maximum(x, 0.0)


@triton.jit
def _relu_bwd(x):
    return (x > 0).to(tl.float32)


@triton.jit
def _lgelu_fwd(x, lam):
    """x Phi(lam x) = xc Phi(lam xc) + max(x - 40, 0), xc = clamp(x, -40, 40) (lam >= 1)."""
    xc = _clamp(x, -_Z_CLIP, _Z_CLIP)
    return xc * _cdf(lam * xc) + tl.maximum(x - _Z_CLIP, 0.0)


@triton.jit
def _lgelu_bwd(x, lam):
    """Phi(lam x) + lam x phi(lam x), x clamped as in the forward."""
    z = lam * _clamp(x, -_Z_CLIP, _Z_CLIP)
    return _cdf(z) + z * _pdf(z)


@triton.jit
def _tanh_parts(x):
    """For a = k (xc + 0.044715 xc^3): (1 + tanh a, 1 - tanh^2 a, xc), free of cancellation."""
    xc = _clamp(x, -_TANH_CLIP, _TANH_CLIP)
    a = _K_TANH * (xc + _A_TANH * xc * xc * xc)
    e = tl.exp(-2.0 * tl.abs(a))
    q = 2.0 * e / (1.0 + e)  # 1 - |tanh a|
    one_plus_t = tl.where(a >= 0, 2.0 - q, q)
    return one_plus_t, q * (2.0 - q), xc


@triton.jit
def _gelu_tanh_fwd(x):
    one_plus_t, _, _ = _tanh_parts(x)
    return 0.5 * x * one_plus_t


@triton.jit
def _gelu_tanh_bwd(x):
    one_plus_t, sech2, xc = _tanh_parts(x)
    return 0.5 * one_plus_t + 0.5 * xc * sech2 * _K_TANH * (1.0 + 3.0 * _A_TANH * xc * xc)


@triton.jit
def _silu_fwd(x):
    s, _ = _sigmoid_parts(x)
    return x * s


@triton.jit
def _silu_bwd(x):
    s, sc = _sigmoid_parts(x)
    return s * (1.0 + x * sc)


@triton.jit
def _mish_parts(x):
    """(xc, e, n, r): tanh(softplus x) = n r, n = e (e + 2), e = exp(xc), r = 1/(n + 2)."""
    xc = _clamp(x, -_MISH_LO, _MISH_CLIP)
    e = tl.exp(xc)
    n = e * (e + 2.0)
    return xc, e, n, 1.0 / (n + 2.0)


@triton.jit
def _mish_fwd(x):
    _xc, _e, n, r = _mish_parts(x)
    return x * (n * r)


@triton.jit
def _mish_bwd(x):
    # x sigmoid(x) (1 - tanh^2) = 4 x e (1 + e) r^2, grouped so nothing under/overflows
    xc, e, n, r = _mish_parts(x)
    return n * r + ((4.0 * xc) * (e * r)) * ((1.0 + e) * r)


# --------------------------------------------------------------------------- GEM family
# Branch-free, as in the catalog: t = clamp(x/eps, 0, T), u = t^(2N), r = 1/(1 + u),
# y = max(x, 0) u r, f' = u r (1 + 2N r) (one division; T = (16/eps_f32)^(1/2N), where the gate
# already rounds to 1). se_gem adds a = clamp(-x/eps, 0, 1), b = eps/max(-x, eps), A = a^(2N+1),
# B = b^(2N+1) and shares r = 1/(u + A + B): y_neg = -eps A r, f'_neg = (2N+1) a^2N b^(2N+2) r^2.


@triton.jit
def _gem_parts(x, inv_eps, tclamp, n2: tl.constexpr):
    u = _ipow(_clamp(x * inv_eps, 0.0, tclamp), n2)
    return u, _div(1.0, 1.0 + u)


@triton.jit
def _gem_pos_fwd(x, inv_eps, tclamp, n2: tl.constexpr):
    u, r = _gem_parts(x, inv_eps, tclamp, n2)
    return tl.maximum(x, 0.0) * (u * r)


@triton.jit
def _gem_pos_bwd(x, inv_eps, tclamp, n2: tl.constexpr):
    u, r = _gem_parts(x, inv_eps, tclamp, n2)
    return (u * r) * (1.0 + n2 * r)


@triton.jit
def _se_parts(x, eps, inv_eps, tclamp, n: tl.constexpr):
    s = x * inv_eps
    u = _ipow(_clamp(s, 0.0, tclamp), 2 * n)
    neg_a = _clamp(s, -1.0, 0.0)  # -a: A = a^(2N+1) is odd in a
    b = _clamp(eps * _div(1.0, eps + tl.maximum(-eps - x, 0.0)), 0.0, 1.0)
    a2n = _ipow(neg_a, 2 * n)
    neg_big_a = a2n * neg_a
    big_b = _ipow(b, 2 * n + 1)
    return u, a2n, neg_big_a, b, big_b, _div(1.0, (u + big_b) - neg_big_a)


@triton.jit
def _se_gem_fwd(x, eps, inv_eps, tclamp, n: tl.constexpr):
    u, _a2n, neg_big_a, _b, _big_b, r = _se_parts(x, eps, inv_eps, tclamp, n)
    return tl.maximum(x, 0.0) * (u * r) + eps * (neg_big_a * r)


@triton.jit
def _se_gem_bwd(x, eps, inv_eps, tclamp, n: tl.constexpr):
    u, a2n, _neg_big_a, b, big_b, r = _se_parts(x, eps, inv_eps, tclamp, n)
    return (u * r) * (1.0 + 2 * n * r) + (2 * n + 1) * a2n * ((big_b * b) * r) * r
