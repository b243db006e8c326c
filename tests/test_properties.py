"""The spec's properties, each with a test that fails if the formula is wrong."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SPEC_ARGS, spec_id
from hypothesis import given, settings
from hypothesis import strategies as st

import gembench
from gembench.activations.accuracy_inputs import adversarial
from gembench.activations.catalog import ParameterError
from gembench.activations.dtypes import DTYPES
from gembench.activations.ops import MpOps

MP = MpOps(dps=200)


def mp_f(spec, x):
    return spec.forward(MP, mpmath.mpf(x))


def fd_right(spec, k, h):
    """k-th forward difference at 0 over h^k (one-sided derivative estimate from the right)."""
    return sum((-1) ** (k - j) * math.comb(k, j) * mp_f(spec, j * h) for j in range(k + 1)) / h**k


def fd_left(spec, k, h):
    """k-th backward difference at 0 over h^k (estimate from the left)."""
    return sum((-1) ** j * math.comb(k, j) * mp_f(spec, -j * h) for j in range(k + 1)) / h**k


GEM_FAMILY = [("gem", {"N": 1}), ("gem", {"N": 2}), ("e_gem", {"N": 1, "eps": 1e-4}),
              ("e_gem", {"N": 2, "eps": 1e-6}), ("se_gem", {"N": 1, "eps": 1e-4}),
              ("se_gem", {"N": 2, "eps": 1e-4})]


@pytest.mark.parametrize("name,params", GEM_FAMILY)
def test_smooth_of_order_2N_at_zero_not_more(name, params):
    """Derivatives 1..2N match from both sides at 0; the (2N+1)-th jumps (se_gem: to 4N)."""
    spec = gembench.activation(name, **params)
    n, eps = params["N"], params.get("eps", 1.0)
    h = mpmath.mpf(eps) * mpmath.mpf("1e-20")
    order = 4 * n if name == "se_gem" else 2 * n
    for k in range(1, order + 1):
        jump = (fd_right(spec, k, h) - fd_left(spec, k, h)) * mpmath.mpf(eps) ** (k - 1)
        assert abs(jump) < 1e-6, (k, jump)
    k = order + 1  # the first derivative that is discontinuous at 0
    jump = (fd_right(spec, k, h) - fd_left(spec, k, h)) * mpmath.mpf(eps) ** (k - 1)
    assert abs(abs(jump) - math.factorial(k)) < 1e-3 * math.factorial(k), (k, jump)


@pytest.mark.parametrize("params", [{"N": 1, "eps": 1e-4}, {"N": 2, "eps": 1e-4},
                                    {"N": 2, "eps": 1e-6}, {"N": 1, "eps": 10.0}])
def test_se_gem_has_no_dead_neurons_and_saturates_at_minus_eps(params):
    spec = gembench.activation("se_gem", **params)
    eps = params["eps"]
    x = -np.logspace(-14, 4, 2000) * eps
    x = x[x >= -1e4 * max(eps, 1.0)]
    y, d = gembench.reference(spec, x)
    assert np.all(d > 0), "f'(x) must be > 0 for every x < 0"
    assert np.all(y >= -eps) and np.all(y < 0)
    y_far, _ = gembench.reference(spec, np.array([-1e300]))
    assert y_far[0] == pytest.approx(-eps, rel=1e-12)
    y_1e4, _ = gembench.reference(spec, np.array([-1e4]))
    assert abs(y_1e4[0] + eps) < eps * (eps / 1e4) ** (2 * params["N"] + 1) * 2


@pytest.mark.parametrize("N", [1, 2])
@pytest.mark.parametrize("p", [1, 2])
def test_e_gem_tends_to_relu_in_Lp_like_eps_to_the_1_plus_1_over_p(N, p):
    """On (0, 1]: ||e_gem - relu||_p ~ eps^(1+1/p). The gap decays like eps^(2N)/x^(2N-1), so
    when p(2N-1) <= 1 (N = 1, p = 1) the integral picks up a log(1/eps) factor, divided out."""
    errs, epss = [], [1e-2, 1e-3, 1e-4, 1e-5]
    for eps in epss:
        spec = gembench.activation("e_gem", N=N, eps=eps)
        t = np.concatenate([np.linspace(0, 1, 20001)[1:], np.geomspace(1, 1 / eps, 20000)[1:]])
        x = eps * t  # the difference lives at the eps scale; integrate over (0, 1]
        y, _ = gembench.reference(spec, x)
        err = np.trapezoid(np.abs(y - x) ** p, x) ** (1 / p)
        errs.append(err / np.log(1 / eps) if p * (2 * N - 1) <= 1 else err)
    slope = np.polyfit(np.log(epss), np.log(errs), 1)[0]
    assert slope == pytest.approx(1 + 1 / p, abs=0.02)


def test_lambda_gelu_at_one_is_gelu_against_torch():
    x = np.concatenate([np.linspace(-12, 12, 4001), adversarial(DTYPES["float64"])])
    y, d = gembench.reference(gembench.activation("lambda_gelu", lam=1.0), x)
    xt = torch.tensor(x[np.abs(x) < 1e300], requires_grad=True)
    yt = F.gelu(xt)
    (dt,) = torch.autograd.grad(yt.sum(), xt)
    keep = np.abs(x) < 1e300
    np.testing.assert_allclose(y[keep], yt.detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(d[keep], dt.numpy(), rtol=1e-12, atol=1e-15)


def test_large_lambda_tends_to_relu_like_one_over_lambda():
    x = np.linspace(-5, 5, 100001)
    gaps = []
    for lam in [10.0, 100.0, 1000.0]:
        y, _ = gembench.reference(gembench.activation("lambda_gelu", lam=lam), x)
        gaps.append(np.max(np.abs(y - np.maximum(x, 0))))
    assert gaps[0] / gaps[1] == pytest.approx(10, rel=0.05)
    assert gaps[1] / gaps[2] == pytest.approx(10, rel=0.05)
    assert gaps[2] < 2e-4


# ---- the float64 reference against the spec's plain formulas at 80 digits (independent code)


def naive(name, p, x):
    mp = mpmath
    x = mp.mpf(x)
    phi = lambda z: mp.npdf(z)  # noqa: E731
    cdf = lambda z: mp.ncdf(z)  # noqa: E731
    sig = lambda z: 1 / (1 + mp.exp(-z))  # noqa: E731
    if name == "relu":
        return max(x, 0), mp.mpf(1 if x > 0 else 0)
    if name in ("gelu", "lambda_gelu", "lambda_gelu_learnable"):
        lam = p.get("lam", 1.0)
        if name == "lambda_gelu_learnable":
            lam = 1 + mp.log1p(mp.exp(mp.mpf(p["s"]) / p["t"]))
        return x * cdf(lam * x), cdf(lam * x) + lam * x * phi(lam * x)
    if name == "gelu_tanh":
        k = mp.sqrt(2 / mp.pi)
        t = mp.tanh(k * (x + mp.mpf("0.044715") * x**3))
        return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * k * (
            1 + 3 * mp.mpf("0.044715") * x**2)
    if name == "silu":
        return x * sig(x), sig(x) * (1 + x * (1 - sig(x)))
    if name == "mish":
        sp = mp.log1p(mp.exp(x))
        return x * mp.tanh(sp), mp.tanh(sp) + x * sig(x) * (1 - mp.tanh(sp) ** 2)
    if name == "relu2":
        return max(x, 0) ** 2, 2 * max(x, 0)
    if name == "squareplus":  # the textbook form (80 digits absorb its cancellation)
        s = mp.sqrt(x * x + mp.mpf(p["b"]))
        return (x + s) / 2, (1 + x / s) / 2
    n, eps = p["N"], mp.mpf(p.get("eps", 1.0))
    if x > 0:
        g = (x / eps) ** (2 * n) / (1 + (x / eps) ** (2 * n))
        return x ** (2 * n + 1) / (eps ** (2 * n) + x ** (2 * n)), g * (1 + 2 * n * (1 - g))
    if name == "se_gem" and x < 0:
        v = (-x / eps) ** (2 * n + 1)
        return -eps * v / (1 + v), (2 * n + 1) * (-x / eps) ** (2 * n) / (1 + v) ** 2
    return mp.mpf(0), mp.mpf(0)


@pytest.mark.parametrize("arg", SPEC_ARGS, ids=spec_id)
def test_reference_matches_spec_formulas_at_high_precision(arg):
    spec = gembench.activation(*arg[:1], **arg[1])
    d = DTYPES["float64"]
    x = np.concatenate([adversarial(d)[np.abs(adversarial(d)) < 1e30],
                        np.random.default_rng(1).standard_normal(300) * 5])
    y, dy = gembench.reference(spec, x)
    rel = spec.definition.relative_accuracy
    with mpmath.workdps(80):
        for xi, yi, di in zip(x, y, dy):
            ry, rd = naive(spec.name, dict(spec.params), xi)
            for got, want in ((yi, ry), (di, rd)):
                floor = d.tiny if rel else 1.0
                err = abs(mpmath.mpf(got) - want) / max(abs(want), floor)
                assert err < 1e-13, (xi, got, want)


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-30, 30, allow_nan=False), idx=st.integers(0, len(SPEC_ARGS) - 1))
def test_derivative_formula_is_the_derivative_of_the_forward_formula(x, idx):
    name, params = SPEC_ARGS[idx]
    if name == "relu" and abs(x) < 1e-6:
        return  # the kink: no derivative there
    spec = gembench.activation(name, **params)
    with mpmath.workdps(60):
        xm = mpmath.mpf(x)
        numeric = mpmath.diff(lambda t: spec.forward(MP, t), xm)
        analytic = spec.derivative(MP, xm)
        # constants are float64 (e.g. 1/sqrt(2)), so agreement is to ~1e-16, not 60 digits
        assert abs(numeric - analytic) <= 1e-13 * max(1, abs(analytic)), (x, numeric, analytic)


class RecordingOps(MpOps):
    """MpOps that remembers which non-arithmetic functions a formula called."""

    def __init__(self):
        super().__init__(30)
        self.called: set[str] = set()

    def __getattribute__(self, name):
        if name in ("exp", "log1p", "tanh", "erfc", "sigmoid", "softplus"):
            object.__getattribute__(self, "called").add(name)
        return object.__getattribute__(self, name)


class SelectCountingOps(MpOps):
    """MpOps that counts calls of ``where`` (a select: tens of times a multiply on CPU)."""

    def __init__(self):
        super().__init__(30)
        self.selects = 0

    def where(self, c, a, b):
        self.selects += 1
        return super().where(c, a, b)


@pytest.mark.parametrize("arg", SPEC_ARGS, ids=spec_id)
def test_no_formula_selects(arg):
    spec = gembench.activation(arg[0], **arg[1])
    ops = SelectCountingOps()
    for x in (-1e4, -3.0, -1e-5, 0.0, 1e-5, 3.0, 1e4):
        spec.forward(ops, mpmath.mpf(x))
        spec.derivative(ops, mpmath.mpf(x))
        spec.param_grad_terms(ops, mpmath.mpf(x), mpmath.mpf(1))
    assert ops.selects == 0


@pytest.mark.parametrize("arg", SPEC_ARGS, ids=spec_id)
def test_transcendental_free_claim_matches_what_the_formula_calls(arg):
    spec = gembench.activation(arg[0], **arg[1])
    ops = RecordingOps()
    for x in (-3.0, -1e-5, 0.0, 1e-5, 3.0):
        spec.forward(ops, mpmath.mpf(x))
        spec.derivative(ops, mpmath.mpf(x))
    assert (not ops.called) == spec.transcendental_free, ops.called


@pytest.mark.parametrize("name,params,message", [
    ("gem", {"N": 0}, r"N must be a positive integer, at most 64, got 0$"),
    ("gem", {"N": 1.5}, "N must be a positive integer"),
    ("gem", {"N": True}, "N must be a positive integer"),
    ("gem", {"N": 1e308}, r"N must be a positive integer, at most 64, got 1e\+308$"),
    ("gem", {"N": 10**400}, r"N must be a positive integer, at most 64, got 100000000000\.\.\."),
    ("gem", {"N": 65}, r"N must be a positive integer, at most 64, got 65"),
    ("e_gem", {"eps": 0.0}, r"eps must be a number > 0, in \[1e-30, 1e\+30\], got 0.0"),
    ("e_gem", {"eps": float("nan")}, "eps must be a number > 0"),
    ("se_gem", {"eps": -1e-4}, "eps must be a number > 0"),
    ("se_gem", {"eps": 1e-300}, r"eps must be a number > 0, in \[1e-30, 1e\+30\], got 1e-300"),
    ("lambda_gelu", {"lam": 0.99}, r"lam must be a number >= 1, at most 1e15, got 0.99"),
    ("lambda_gelu_learnable", {"t": 0.0}, "t must be a number > 0, got 0.0"),
    ("lambda_gelu_learnable", {"s": float("inf")}, r"s must be a finite number, \|s\| <= 1e\+30"),
    ("lambda_gelu_learnable", {"s": 2000.0, "t": 0.1}, r"s/t must be at most 10000"),
    ("gem", {"eps": 1e-4}, "unknown parameter 'eps'"),
    ("swish", {}, "unknown activation 'swish'"),
])
def test_bad_parameters_are_clear_errors(name, params, message):
    with pytest.raises(ParameterError, match=message) as info:
        gembench.activation(name, **params)
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)


@pytest.mark.parametrize("s", [-200.0, -1e30, 1000.0])
def test_learnable_lambda_is_stable_for_any_allowed_s(s):
    """Issue 12: s = -200 overflowed math.exp; lam and sigma(s/t) are now computed stably."""
    spec = gembench.activation("lambda_gelu_learnable", s=s, t=0.1)
    z = s / 0.1
    assert spec.p.lam == pytest.approx(1.0 + float(mpmath.log1p(mpmath.exp(z))), rel=1e-15)
    assert spec.p.sig == pytest.approx(float(1 / (1 + mpmath.exp(-z))), rel=1e-15, abs=0)
    y, d = gembench.reference(spec, np.array([-3.0, 0.5, 3.0]))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(d))


def test_integral_float_N_is_accepted_as_int():
    assert gembench.activation("gem", N=2.0).params["N"] == 2
    assert gembench.activation("gem", N=2.0).label == "gem(N=2)"


@pytest.mark.parametrize("backend_name", ["torch_eager", "torch_fused"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name,fn", [("relu", F.relu), ("gelu", F.gelu), ("silu", F.silu),
                                     ("mish", F.mish),
                                     ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"))])
def test_baselines_agree_with_torch_functional(backend_name, dtype, name, fn):
    kern = gembench.backend(backend_name).build(gembench.activation(name), dtype, "cpu")
    x = (torch.randn(4096, dtype=torch.float64) * 4).to(getattr(torch, dtype))
    dy = torch.randn(4096).to(x.dtype)
    xg = x.clone().requires_grad_(True)
    (want_dx,) = torch.autograd.grad(fn(xg), xg, dy)
    torch.testing.assert_close(kern.forward(x), fn(x))
    torch.testing.assert_close(kern.backward(x, dy), want_dx)
