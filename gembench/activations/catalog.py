"""The activation catalog: each activation is one declarative :class:`ActivationDef`.

Formulas follow ``shared/spec/activations.md`` and are written once against an array-namespace
adapter (:mod:`gembench.activations.ops`), in branch-free algebraic forms (clamps, never a
select) that stay finite wherever the true value is finite: no overflowing intermediate, no
``inf/inf``, no ``0*inf``, also in what autograd forms through them.

The GEM formulas are reconstructed from the paper's published properties (its text is not
available here): gate g(x) = u/(1+u), u = (x/eps)^(2N), for x > 0, and

- ``gem``:    f(x) = x^(2N+1) / (1 + x^(2N))            for x > 0, else 0   (eps = 1)
- ``e_gem``:  f(x) = x^(2N+1) / (eps^(2N) + x^(2N))     for x > 0, else 0
- ``se_gem``: e_gem(x) for x >= 0; -eps * v / (1 + v), v = (-x/eps)^(2N+1), for x < 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

from gembench.activations import algebraic as alg
from gembench.activations.definition import Activation, ActivationDef
from gembench.activations.ops import INV_SQRT_2PI, SQRT_HALF, ipow
from gembench.activations.params import (
    EPS,
    LAM,
    LEARNABLE_S,
    LEARNABLE_T,
    SQUAREPLUS_B,
    N,
    Param,
    ParameterError,
    learnable_constraint,
)

__all__ = ["CATALOG", "CHECK_CONFIGS", "Activation", "ActivationDef", "Param", "ParameterError",
           "activation", "activation_names", "transcendental_free"]

# --------------------------------------------------------------------------- shared pieces
# No formula selects with ``where``: clamps (``clip``, ``relu``) keep every intermediate finite
# and every branch is a sum of terms that vanish outside their half-line.

_Z_CLIP = 40.0  # |z| beyond which Phi(z) is exactly 0 or 1 and z*phi(z) == 0, even in float64
# (lam <= 1e15, so lam * 40 squared stays finite in float32)


def _cdf(ops: Any, z: Any) -> Any:
    """Standard normal CDF via erfc: accurate relative to its value in both tails."""
    return 0.5 * ops.erfc(-z * SQRT_HALF)


def _pdf(ops: Any, z: Any) -> Any:
    return INV_SQRT_2PI * ops.exp(-0.5 * z * z)


# --------------------------------------------------------------------------- baselines


def _relu_f(ops: Any, x: Any, p: Any) -> Any:
    return ops.relu(x)


def _relu_d(ops: Any, x: Any, p: Any) -> Any:
    return ops.step(x)


def _lgelu_z(ops: Any, x: Any, p: Any) -> tuple[Any, Any, Any]:
    """(xc, z, lam): xc = clip(x, -40, 40) and z = lam xc. For lam >= 1, Phi(lam x) is exactly 0
    or 1 beyond |x| = 40, and the bounds do not depend on lam (a learnable lam's gradient then
    gets no large, cancelling terms from them)."""
    lam = getattr(p, "lam", 1.0)
    xc = ops.clip(x, -_Z_CLIP, _Z_CLIP)
    return xc, lam * xc, lam


def _lgelu_f(ops: Any, x: Any, p: Any) -> Any:
    # x Phi(lam x) = xc Phi(lam xc) + max(x - 40, 0): the second term is x - 40 beyond the clip
    # and 0 elsewhere, so autograd never forms (x dy) phi(z) = inf * 0 for |x| near the dtype's
    # max. clamp passes the gradient at x = 40 itself, where clip's is 0.
    xc, z, _lam = _lgelu_z(ops, x, p)
    return xc * _cdf(ops, z) + ops.clamp(x - _Z_CLIP, 0.0, math.inf)


def _lgelu_d(ops: Any, x: Any, p: Any) -> Any:
    _xc, z, _lam = _lgelu_z(ops, x, p)
    return _cdf(ops, z) + z * _pdf(ops, z)


def _lgelu_learnable_grads(ops: Any, x: Any, dy: Any, p: Any) -> dict[str, Any]:
    # dL/ds = sum dy * x^2 phi(lam x) * sigma(s/t) / t, with x^2 phi(z) = z * (z phi(z)) / lam^2
    _xc, z, lam = _lgelu_z(ops, x, p)
    return {"s": dy * (z * z * _pdf(ops, z)) * (p.sig / (p.t * lam * lam))}


_K_TANH = math.sqrt(2.0 / math.pi)
_A_TANH = 0.044715
_TANH_CLIP = 20.0  # sigmoid(2 k (x + 0.044715 x^3)) == 0 or 1 beyond this, in every dtype


def _gelu_tanh_a(ops: Any, x: Any) -> tuple[Any, Any]:
    xc = ops.clip(x, -_TANH_CLIP, _TANH_CLIP)
    return xc, _K_TANH * (xc + _A_TANH * xc * xc * xc)


def _gelu_tanh_f(ops: Any, x: Any, p: Any) -> Any:
    # 0.5 (1 + tanh a) = sigmoid(2a): accurate in both tails (1 + tanh a cancels for a < 0)
    _xc, a = _gelu_tanh_a(ops, x)
    return x * ops.sigmoid(2.0 * a)


def _gelu_tanh_d(ops: Any, x: Any, p: Any) -> Any:
    # 0.5 (1 - tanh^2 a) = 2 sigmoid(2a) sigmoid(-2a): no cancellation where |tanh a| ~ 1
    xc, a = _gelu_tanh_a(ops, x)
    s = ops.sigmoid(2.0 * a)
    return s + 2.0 * xc * s * ops.sigmoid(-2.0 * a) * (_K_TANH * (1.0 + 3.0 * _A_TANH * xc * xc))


def _silu_f(ops: Any, x: Any, p: Any) -> Any:
    return x * ops.sigmoid(x)


def _silu_d(ops: Any, x: Any, p: Any) -> Any:
    return ops.sigmoid(x) * (1.0 + x * ops.sigmoid(-x))  # 1 - sigmoid(x) without cancelling


_MISH_HI = 40.0  # tanh(softplus(x)) == 1 and x (1 - tanh^2) sigmoid(x) ~ 0 beyond, in float64
_MISH_LO = -1000.0  # exp(x) == 0 below, in every dtype


def _mish_parts(ops: Any, x: Any) -> tuple[Any, Any, Any, Any]:
    """tanh(softplus(x)) = n/(n+2), n = e (e + 2), e = exp(x): (xc, e, n, r = 1/(n+2))."""
    xc = ops.clip(x, _MISH_LO, _MISH_HI)
    e = ops.exp(xc)
    n = e * (e + 2.0)
    return xc, e, n, ops.recip(n + 2.0)


def _mish_f(ops: Any, x: Any, p: Any) -> Any:
    _xc, _e, n, r = _mish_parts(ops, x)
    return x * (n * r)


def _mish_d(ops: Any, x: Any, p: Any) -> Any:
    # 1 - tanh^2 = 4 (n+1) r^2 and n + 1 = (1 + e)^2, so x sigmoid(x) (1 - tanh^2) =
    # 4 x e (1 + e) r^2: nothing cancels, and the grouping keeps it from under/overflowing.
    xc, e, n, r = _mish_parts(ops, x)
    return n * r + ((4.0 * xc) * (e * r)) * ((1.0 + e) * r)


# --------------------------------------------------------------------------- GEM family
# Branch-free. With s = x/eps, the positive half uses t = clip(s, 0, T), u = t^(2N): the gate
# g = u/(1+u), y = relu(x) g, f' = g (1 + 2N (1-g)), 1 - g = 1/(1+u). T is where the gate is
# already 1 in the compute dtype (u(T) >= 16/eps_dtype), so the power never overflows. One
# division, r = 1/(1+u).
#
# se_gem's negative half, w = -x/eps, keeps its tail f' ~ (2N+1) w^-(2N+2) accurate with
# a = min(w, 1), b = eps/max(-x, eps) = 1/max(w, 1), A = a^(2N+1), B = b^(2N+1):
#   y = -eps A / (A + B),  f' = (2N+1) a^(2N) b^(2N+2) / (A + B)^2
# (w <= 1: b = 1; w >= 1: a = 1, numerator and denominator divided by w^(2N+1)). The halves
# share one denominator D = u + A + B (u = 0 for x <= 0; A = 0, B = 1 for x >= 0): two
# divisions, 1/D and b. At -x = eps autograd takes the gradient from a (clamp passes it at
# its bound) and none from b (max(-x, eps) = eps + relu(-x - eps): relu's is 0 at 0), so the
# kink is counted once. b is formed in x's units so that autograd's chain never scales a
# subnormal intermediate up by 1/eps (it does for f' < tiny/eps near 0, as any x/eps).


def _gate_clamp(ops: Any, n2: int) -> Any:
    """T with T^(2N) >= 16/eps: beyond it the gate u/(1+u) rounds to 1 in the compute dtype."""
    return (16.0 / ops.eps) ** (1.0 / n2)


def _scaled(x: Any, eps: float) -> Any:
    return x if eps == 1.0 else x * (1.0 / eps)


def _gem_parts(ops: Any, x: Any, n2: int, eps: float) -> tuple[Any, Any]:
    """(u, r): u = clip(x/eps, 0, T)^(2N) and r = 1/(1+u)."""
    u = ipow(ops.clip(_scaled(x, eps), 0.0, _gate_clamp(ops, n2)), n2)
    return u, ops.recip(1.0 + u)


def _gem_f(ops: Any, x: Any, p: Any) -> Any:
    u, r = _gem_parts(ops, x, 2 * p.N, getattr(p, "eps", 1.0))
    return ops.relu(x) * (u * r)


def _gem_d(ops: Any, x: Any, p: Any) -> Any:
    n2 = 2 * p.N
    u, r = _gem_parts(ops, x, n2, getattr(p, "eps", 1.0))
    return (u * r) * (1.0 + n2 * r)


def _se_parts(ops: Any, x: Any, p: Any) -> tuple[Any, ...]:
    """(u, a^2N, -A, b, B, r) as in the comment above; -a = clip(x/eps, -1, 0) saves a negation
    (A = a^(2N+1) is odd in a)."""
    n2 = 2 * p.N
    s = _scaled(x, p.eps)
    u = ipow(ops.clip(s, 0.0, _gate_clamp(ops, n2)), n2)
    neg_a = ops.clamp(s, -1.0, 0.0)
    b = ops.clamp(p.eps * ops.recip(p.eps + ops.relu((-p.eps) - x)), -math.inf, 1.0)
    a2n = ipow(neg_a, n2)
    neg_big_a, big_b = a2n * neg_a, ipow(b, n2 + 1)
    return u, a2n, neg_big_a, b, big_b, ops.recip((u + big_b) - neg_big_a)


def _segem_f(ops: Any, x: Any, p: Any) -> Any:
    u, _a2n, neg_big_a, _b, _big_b, r = _se_parts(ops, x, p)
    return ops.relu(x) * (u * r) + p.eps * (neg_big_a * r)


def _segem_d(ops: Any, x: Any, p: Any) -> Any:
    n2 = 2 * p.N
    u, a2n, _neg_big_a, b, big_b, r = _se_parts(ops, x, p)
    return (u * r) * (1.0 + n2 * r) + (n2 + 1) * a2n * ((big_b * b) * r) * r


# --------------------------------------------------------------------------- parameters

_RATIONAL_1 = "branch-free rational: clip + 1 division, no select"
_RATIONAL_2 = "branch-free rational: clip/relu + 2 divisions, no select"
_PHI = "x Phi(lam x) via erfc; clip, no select"
_SQUAREPLUS = "relu(x) + b/(2(s + |x|)), s = sqrt(x^2 + b) scaled by max(|x|, sqrt b); no select"

class Catalog(dict[str, ActivationDef]):
    """name -> definition: the built-ins, then registered activations. Looking anything up
    first loads the plugins (entry points, ``GEMBENCH_PLUGINS``) once, so every reader (suites,
    workers, ``gembench list``) sees activations registered outside gembench."""

    _discovered = False
    #: called once, on the first lookup: the plugin loader adds itself here when imported
    #: (:mod:`gembench.backends.plugins`; ``import gembench`` imports it)
    discoverers: ClassVar[list[Callable[[], None]]] = []

    def _discover(self) -> None:
        if not Catalog._discovered:
            Catalog._discovered = True
            for find in self.discoverers:
                find()

    def register(self, d: ActivationDef) -> None:
        super().__setitem__(d.name, d)

    def get(self, name: str, default: Any = None, *, discover: bool = True) -> Any:
        if discover:
            self._discover()
        return super().get(name, default)

    def __getitem__(self, name: str) -> ActivationDef:
        self._discover()
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return super().__contains__(name)

    def __iter__(self) -> Any:
        self._discover()
        return super().__iter__()

    def __len__(self) -> int:
        self._discover()
        return super().__len__()

    def keys(self) -> Any:
        self._discover()
        return super().keys()

    def items(self) -> Any:
        self._discover()
        return super().items()

    def values(self) -> Any:
        self._discover()
        return super().values()


CATALOG: Catalog = Catalog({
    d.name: d
    for d in [
        ActivationDef("relu", "max(x, 0)", _relu_f, _relu_d, transcendental_free=True,
                      relative_accuracy=True, formulation="max(x, 0); f' = (x > 0)"),
        ActivationDef("gelu", "x * Phi(x)", _lgelu_f, _lgelu_d, formulation=_PHI),
        ActivationDef("gelu_tanh", "0.5 x (1 + tanh(k (x + 0.044715 x^3)))", _gelu_tanh_f,
                      _gelu_tanh_d, formulation="x sigmoid(2a); f' from sigmoid(+-2a)"),
        ActivationDef("silu", "x * sigmoid(x)", _silu_f, _silu_d,
                      formulation="x sigmoid(x); f' from sigmoid(+-x)"),
        ActivationDef("mish", "x * tanh(softplus(x))", _mish_f, _mish_d,
                      formulation="x n/(n+2), n = e^x (e^x + 2); 1 exp, 1 division"),
        ActivationDef("lambda_gelu", "x * Phi(lam x), lam >= 1", _lgelu_f, _lgelu_d,
                      params=(LAM,), formulation=_PHI),
        ActivationDef("lambda_gelu_learnable", "x * Phi(lam x), lam = 1 + softplus(s / t)",
                      _lgelu_f, _lgelu_d, params=(LEARNABLE_S, LEARNABLE_T),
                      param_grads=_lgelu_learnable_grads, constraint=learnable_constraint,
                      formulation=_PHI),
        ActivationDef("gem", "x^(2N+1) / (1 + x^(2N)) for x > 0, else 0", _gem_f, _gem_d,
                      params=(N,), transcendental_free=True, relative_accuracy=True,
                      formulation=_RATIONAL_1),
        ActivationDef("e_gem", "x^(2N+1) / (eps^(2N) + x^(2N)) for x > 0, else 0", _gem_f,
                      _gem_d, params=(N, EPS), transcendental_free=True,
                      relative_accuracy=True, formulation=_RATIONAL_1),
        ActivationDef("se_gem", "e_gem(x) for x >= 0; -eps v/(1+v), v = (-x/eps)^(2N+1), x < 0",
                      _segem_f, _segem_d, params=(N, EPS), transcendental_free=True,
                      relative_accuracy=True, formulation=_RATIONAL_2),
        ActivationDef("relu2", "relu(x)^2", alg.relu2_f, alg.relu2_d, transcendental_free=True,
                      relative_accuracy=True, formulation="relu(x) * relu(x); f' = 2 relu(x)"),
        ActivationDef("squareplus", "(x + sqrt(x^2 + b)) / 2", alg.squareplus_f,
                      alg.squareplus_d, params=(SQUAREPLUS_B,), transcendental_free=True,
                      relative_accuracy=True, formulation=_SQUAREPLUS),
    ]
})


def activation(name: str, **params: Any) -> Activation:
    """Return the named activation with parameters validated and defaults filled in."""
    try:
        d = CATALOG[name]
    except KeyError:
        raise ParameterError(
            f"unknown activation {name!r}; expected one of {', '.join(CATALOG)}"
        ) from None
    known = {q.name: q for q in d.params}
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ParameterError(f"{name}: unknown parameter {unknown[0]!r} (parameters: {allowed})")
    bound = {q.name: q.validate(name, params.get(q.name, q.default)) for q in d.params}
    problem = d.constraint(bound) if d.constraint else None
    if problem:
        raise ParameterError(f"{name}: {problem}")
    return Activation(d, bound)


#: What accuracy checks cover: every activation at its defaults plus the papers' parameters.
CHECK_CONFIGS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in dict.keys(CATALOG)] + [
    ("gem", {"N": 2}),
    ("e_gem", {"N": 2, "eps": 1e-6}),
    ("e_gem", {"N": 1, "eps": 10.0}),
    ("se_gem", {"N": 2, "eps": 1e-4}),
    ("lambda_gelu", {"lam": 4.0}),
    ("lambda_gelu_learnable", {"s": 1.0, "t": 0.1}),
    ("squareplus", {"b": 1e-4}),
]


def _rebuild(name: str, params: dict[str, Any]) -> Activation:
    return activation(name, **params)


Activation.rebuild = _rebuild  # type: ignore[assignment]  (see Activation.__reduce__)


def activation_names() -> list[str]:
    """Names of every activation in the catalog (built-in and registered)."""
    return list(CATALOG)


# ---- for gembench/report/verdict.py (issue 21): the verdict's transcendental-free column
def transcendental_free(name: str) -> bool:
    """Whether activation ``name`` needs no exp/log/erf/tanh/sigmoid/softplus (only +, -, *, /,
    comparisons, max/min and sqrt), as declared for built-ins and traced for registered ones."""
    return CATALOG[name].transcendental_free
