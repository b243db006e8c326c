"""The activation catalog: each activation is one declarative :class:`ActivationDef`.

Formulas follow ``shared/spec/activations.md`` and are written once against an array-namespace
adapter (:mod:`gembench.activations.ops`), in algebraic forms that stay finite wherever the
true value is finite (no overflowing intermediate, no ``inf/inf``, no ``0*inf``, even in
untaken ``where`` branches, so that autograd through them stays clean).

The GEM formulas are reconstructed from the paper's published properties (its text is not
available here): gate g(x) = u/(1+u), u = (x/eps)^(2N), for x > 0, and

- ``gem``:    f(x) = x^(2N+1) / (1 + x^(2N))            for x > 0, else 0   (eps = 1)
- ``e_gem``:  f(x) = x^(2N+1) / (eps^(2N) + x^(2N))     for x > 0, else 0
- ``se_gem``: e_gem(x) for x >= 0; -eps * v / (1 + v), v = (-x/eps)^(2N+1), for x < 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gembench.activations.ops import INV_SQRT_2PI, SQRT_HALF, ipow

Formula = Callable[[Any, Any, Any], Any]


class ParameterError(ValueError):
    """An activation parameter is unknown or outside its allowed range."""


@dataclass(frozen=True)
class Param:
    """One activation parameter: default, type and allowed range."""

    name: str
    default: float
    requirement: str  # human text, e.g. "a positive integer"
    check: Callable[[Any], bool]
    integer: bool = False
    doc: str = ""

    def validate(self, activation: str, value: Any) -> float:
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok_type and self.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if ok_type and self.integer and not isinstance(value, int):
            ok_type = False
        if not ok_type or not math.isfinite(value) or not self.check(value):
            raise ParameterError(
                f"{activation}: parameter {self.name} must be {self.requirement}, got {value!r}"
            )
        return value


@dataclass(frozen=True)
class ActivationDef:
    """An activation as the catalog declares it (parameters unbound)."""

    name: str
    summary: str
    forward: Formula
    derivative: Formula
    params: tuple[Param, ...] = ()
    transcendental_free: bool = False
    relative_accuracy: bool = False  # accurate relative to |f| down to the dtype's tiny
    param_grads: Callable[[Any, Any, Any, Any], dict[str, Any]] | None = None
    extra_bytes: Mapping[str, int] = field(default_factory=dict)  # per pass, beyond x/y/dy/dx


@dataclass(frozen=True)
class Activation:
    """An activation with its parameters bound and validated: what backends build."""

    definition: ActivationDef
    params: Mapping[str, float]

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the catalog in another process (formulas are not picklable themselves).
        return (_rebuild, (self.name, dict(self.params)))

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def label(self) -> str:
        """Name with parameters, e.g. ``gem(N=2)``; stable, used as a key in results."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.name}({inner})"

    @property
    def transcendental_free(self) -> bool:
        return self.definition.transcendental_free

    @property
    def learnable(self) -> bool:
        return self.definition.param_grads is not None

    @property
    def p(self) -> _Params:
        return _Params(self.params)

    def forward(self, ops: Any, x: Any) -> Any:
        """f(x) evaluated with the given array namespace."""
        return self.definition.forward(ops, x, self.p)

    def derivative(self, ops: Any, x: Any) -> Any:
        """f'(x) evaluated with the given array namespace."""
        return self.definition.derivative(ops, x, self.p)

    def param_grad_terms(self, ops: Any, x: Any, dy: Any) -> dict[str, Any]:
        """Per-element terms of dL/dparam (sum them for the gradient); empty if not learnable."""
        if self.definition.param_grads is None:
            return {}
        return self.definition.param_grads(ops, x, dy, self.p)

    def bytes_per_element(self, itemsize: int, pass_: str) -> int:
        """Minimal memory traffic per element for a pass (spec: forward x->y, backward x,dy->dx)."""
        elements = {"forward": 2, "backward": 3, "forward_backward": 5}[pass_]
        return elements * itemsize


class _Params:
    """Attribute access to bound parameters, plus derived values (lambda of the learnable form)."""

    def __init__(self, params: Mapping[str, float]) -> None:
        self.__dict__.update(params)
        if "s" in params:
            z = params["s"] / params["t"]
            self.sig = 1.0 / (1.0 + math.exp(-z))
            self.lam = 1.0 + (z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z)))


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


# --------------------------------------------------------------------------- shared pieces

_Z_CLIP = 40.0  # |z| beyond which z*phi(z) == 0 even in float64


def _cdf(ops: Any, z: Any) -> Any:
    """Standard normal CDF via erfc: accurate relative to its value in both tails."""
    return 0.5 * ops.erfc(-z * SQRT_HALF)


def _pdf(ops: Any, z: Any) -> Any:
    return INV_SQRT_2PI * ops.exp(-0.5 * z * z)


def _zphi(ops: Any, z: Any) -> Any:
    """z * phi(z), with z clipped so it never forms inf * 0."""
    zc = ops.clip(z, -_Z_CLIP, _Z_CLIP)
    return zc * _pdf(ops, zc)


# --------------------------------------------------------------------------- baselines


def _relu_f(ops: Any, x: Any, p: Any) -> Any:
    return ops.where(x > 0, x, 0.0)


def _relu_d(ops: Any, x: Any, p: Any) -> Any:
    return ops.where(x > 0, 1.0, 0.0)


def _lgelu_f(ops: Any, x: Any, p: Any) -> Any:
    # Phi(z) is exactly 0 or 1 for |z| > 40; evaluating x*Phi only in between keeps autograd
    # from forming (x*dy)*phi(z) = inf*0 for |x| near the dtype's max.
    lam = getattr(p, "lam", 1.0)
    z = lam * x
    mid = ops.abs(z) <= _Z_CLIP
    xm = ops.where(mid, x, 0.0)
    return ops.where(z > _Z_CLIP, x, xm * _cdf(ops, lam * xm))


def _lgelu_d(ops: Any, x: Any, p: Any) -> Any:
    z = getattr(p, "lam", 1.0) * x
    return _cdf(ops, z) + _zphi(ops, z)


def _lgelu_learnable_grads(ops: Any, x: Any, dy: Any, p: Any) -> dict[str, Any]:
    # dL/ds = sum dy * x^2 phi(lam x) * sigma(s/t) / t, with x^2 phi(z) = z * (z phi(z)) / lam^2
    zc = ops.clip(p.lam * x, -_Z_CLIP, _Z_CLIP)
    return {"s": dy * (zc * zc * _pdf(ops, zc)) * (p.sig / (p.t * p.lam * p.lam))}


_K_TANH = math.sqrt(2.0 / math.pi)
_A_TANH = 0.044715
_TANH_CLIP = 20.0  # tanh(k (x + a x^3)) == +-1 exactly beyond this, in every dtype


def _gelu_tanh_f(ops: Any, x: Any, p: Any) -> Any:
    xc = ops.clip(x, -_TANH_CLIP, _TANH_CLIP)
    t = ops.tanh(_K_TANH * (xc + _A_TANH * xc * xc * xc))
    return 0.5 * x * (1.0 + t)


def _gelu_tanh_d(ops: Any, x: Any, p: Any) -> Any:
    xc = ops.clip(x, -_TANH_CLIP, _TANH_CLIP)
    t = ops.tanh(_K_TANH * (xc + _A_TANH * xc * xc * xc))
    return 0.5 * (1.0 + t) + 0.5 * xc * (1.0 - t * t) * _K_TANH * (1.0 + 3.0 * _A_TANH * xc * xc)


def _silu_f(ops: Any, x: Any, p: Any) -> Any:
    return x * ops.sigmoid(x)


def _silu_d(ops: Any, x: Any, p: Any) -> Any:
    s = ops.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _mish_f(ops: Any, x: Any, p: Any) -> Any:
    return x * ops.tanh(ops.softplus(x))


def _mish_d(ops: Any, x: Any, p: Any) -> Any:
    t = ops.tanh(ops.softplus(x))
    return t + x * ops.sigmoid(x) * (1.0 - t * t)


# --------------------------------------------------------------------------- GEM family
# Positive half, u = (x/eps)^(2N), g = u/(1+u). Two algebraic forms, each free of overflow:
#   0 < x <= eps:  y = x * u/(1+u),      1 - g = 1/(1+u)      (u <= 1)
#   x > eps:       y = x / (1 + p),      1 - g = p/(1+p)      (p = (eps/x)^(2N) <= 1)


def _gem_pos_parts(ops: Any, x: Any, n2: int, eps: float) -> tuple[Any, Any, Any, Any]:
    small = (x > 0) & (x <= eps)
    big = x > eps
    u = ipow(ops.where(small, x, 0.0) / eps, n2)
    xb = ops.where(big, x, eps)
    q = ipow(eps / xb, n2)
    return small, big, u, (xb, q)


def _gem_pos_f(ops: Any, x: Any, n2: int, eps: float) -> Any:
    small, big, u, (xb, q) = _gem_pos_parts(ops, x, n2, eps)
    xs = ops.where(small, x, 0.0)
    # x > eps: y = x - x q/(1+q) = x - eps r^(2N-1)/(1+q), r = eps/x, so no intermediate is
    # ever larger than x (autograd would otherwise form dy*x*q' = inf*0 near the dtype's max).
    r = eps / xb
    corr = eps * ipow(r, n2 - 1) / (1.0 + q)  # n2 = 2N >= 2
    return ops.where(big, xb - corr, ops.where(small, xs * u / (1.0 + u), 0.0))


def _gem_pos_d(ops: Any, x: Any, n2: int, eps: float) -> Any:
    _small, big, u, (_xb, q) = _gem_pos_parts(ops, x, n2, eps)
    g = ops.where(big, 1.0 / (1.0 + q), u / (1.0 + u))
    h = ops.where(big, q / (1.0 + q), 1.0 / (1.0 + u))  # 1 - g without cancellation
    return ops.where(x > 0, g * (1.0 + n2 * h), 0.0)


def _gem_f(ops: Any, x: Any, p: Any) -> Any:
    return _gem_pos_f(ops, x, 2 * p.N, 1.0)


def _gem_d(ops: Any, x: Any, p: Any) -> Any:
    return _gem_pos_d(ops, x, 2 * p.N, 1.0)


def _egem_f(ops: Any, x: Any, p: Any) -> Any:
    return _gem_pos_f(ops, x, 2 * p.N, p.eps)


def _egem_d(ops: Any, x: Any, p: Any) -> Any:
    return _gem_pos_d(ops, x, 2 * p.N, p.eps)


# Negative half of se_gem, w = -x/eps, v = w^(2N+1):
#   -eps <= x < 0:  y = -eps v/(1+v),         f' = (2N+1) w^(2N) / (1+v)^2
#   x < -eps:       y = -eps/(1+r),           f' = (2N+1) s^(2N+2) / (1+r)^2,  s = 1/w, r = s^(2N+1)


def _se_neg_parts(ops: Any, x: Any, m: int, eps: float) -> tuple[Any, Any, Any, Any]:
    near = (x < 0) & (x >= -eps)
    far = x < -eps
    w = ops.where(near, x, 0.0) * (-1.0 / eps)
    s = eps / ops.where(far, -x, eps)
    return near, far, w, s


def _segem_f(ops: Any, x: Any, p: Any) -> Any:
    m = 2 * p.N + 1
    _near, far, w, s = _se_neg_parts(ops, x, m, p.eps)
    v = ipow(w, m)
    neg = ops.where(far, -p.eps / (1.0 + ipow(s, m)), -p.eps * v / (1.0 + v))
    return ops.where(x < 0, neg, _gem_pos_f(ops, x, 2 * p.N, p.eps))


def _segem_d(ops: Any, x: Any, p: Any) -> Any:
    m = 2 * p.N + 1
    _near, far, w, s = _se_neg_parts(ops, x, m, p.eps)
    w2n = ipow(w, m - 1)
    v = w2n * w
    s2n1 = ipow(s, m)
    d_near = m * w2n / ((1.0 + v) * (1.0 + v))
    d_far = m * (s2n1 * s) / ((1.0 + s2n1) * (1.0 + s2n1))
    neg = ops.where(far, d_far, d_near)
    return ops.where(x < 0, neg, _gem_pos_d(ops, x, 2 * p.N, p.eps))


# --------------------------------------------------------------------------- parameters


def _positive_int(name: str, default: int, doc: str) -> Param:
    return Param(name, default, "a positive integer", lambda v: v >= 1, integer=True, doc=doc)


_N = _positive_int("N", 1, "gate shape is 2N")
_EPS = Param("eps", 1e-4, "a number > 0", lambda v: v > 0, doc="scale epsilon")
_LAM = Param("lam", 1.0, "a number >= 1", lambda v: v >= 1, doc="lambda, sharpness")
_S = Param("s", 0.0, "a finite number", lambda v: True, doc="learnable pre-parameter")
_T = Param("t", 0.1, "a number > 0", lambda v: v > 0, doc="temperature")


CATALOG: dict[str, ActivationDef] = {
    d.name: d
    for d in [
        ActivationDef("relu", "max(x, 0)", _relu_f, _relu_d, transcendental_free=True,
                      relative_accuracy=True),
        ActivationDef("gelu", "x * Phi(x)", _lgelu_f, _lgelu_d),
        ActivationDef("gelu_tanh", "0.5 x (1 + tanh(k (x + 0.044715 x^3)))", _gelu_tanh_f,
                      _gelu_tanh_d),
        ActivationDef("silu", "x * sigmoid(x)", _silu_f, _silu_d),
        ActivationDef("mish", "x * tanh(softplus(x))", _mish_f, _mish_d),
        ActivationDef("lambda_gelu", "x * Phi(lam x), lam >= 1", _lgelu_f, _lgelu_d,
                      params=(_LAM,)),
        ActivationDef("lambda_gelu_learnable", "x * Phi(lam x), lam = 1 + softplus(s / t)",
                      _lgelu_f, _lgelu_d, params=(_S, _T), param_grads=_lgelu_learnable_grads),
        ActivationDef("gem", "x^(2N+1) / (1 + x^(2N)) for x > 0, else 0", _gem_f, _gem_d,
                      params=(_N,), transcendental_free=True, relative_accuracy=True),
        ActivationDef("e_gem", "x^(2N+1) / (eps^(2N) + x^(2N)) for x > 0, else 0", _egem_f,
                      _egem_d, params=(_N, _EPS), transcendental_free=True,
                      relative_accuracy=True),
        ActivationDef("se_gem", "e_gem(x) for x >= 0; -eps v/(1+v), v = (-x/eps)^(2N+1), x < 0",
                      _segem_f, _segem_d, params=(_N, _EPS), transcendental_free=True,
                      relative_accuracy=True),
    ]
}


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
    return Activation(d, bound)


#: What accuracy checks cover: every activation at its defaults plus the papers' parameters.
CHECK_CONFIGS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in CATALOG] + [
    ("gem", {"N": 2}),
    ("e_gem", {"N": 2, "eps": 1e-6}),
    ("e_gem", {"N": 1, "eps": 10.0}),
    ("se_gem", {"N": 2, "eps": 1e-4}),
    ("lambda_gelu", {"lam": 4.0}),
    ("lambda_gelu_learnable", {"s": 1.0, "t": 0.1}),
]


def _rebuild(name: str, params: dict[str, Any]) -> Activation:
    return activation(name, **params)


def activation_names() -> list[str]:
    """Names of every activation in the catalog."""
    return list(CATALOG)
