"""ReLU-likeness: how far each activation is from ReLU, computed (not sampled, not timed).

For an activation f and gap(x) = f(x) − ReLU(x), all from the float64 reference:

- ``L^p`` distance under N(0, σ²): (E|gap(X)|^p)^{1/p}, p = 1, 2, by composite Gauss–Legendre
  quadrature in t = x/σ on geometrically graded pieces (split at 0 and at the activation's
  scales ε and 1/λ, so the kink at 0 and the ε scale are resolved), checked by doubling the
  nodes. p = ∞ under a Gaussian (full support) is the sup over the real line: column ``sup``.
- ``sup |f − ReLU|`` and where: a dense log-spaced search over ±[ε·1e-5, 1e8], refined by a
  bounded scalar maximisation; a sup approached only as |x| → ∞ (SE-GEM's −ε) shows as ±inf.
- dead-gradient share: P(|f'(X)| < 1e-3) under N(0, σ²) (ReLU: 0.5), from the exact
  crossings of |f'| = 1e-3 (grid sign changes and refined local minima of |f'|, then brentq).
- value and slope at 0.

Precision: f − ReLU in float64 carries an ulp of x, which for x ≫ ε is more than the gap
itself; where |f − x| < 1e-6·x the gap is re-evaluated from the same catalog formula at 40
digits (mpmath), so quadrature figures hold to ~1e-8 relative (the doubling check's tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import mpmath
import numpy as np
from scipy import optimize, special

from gembench.activations.catalog import CATALOG, Activation, ParameterError, activation
from gembench.activations.ops import MpOps
from gembench.activations.reference import reference

SIGMAS: tuple[float, ...] = (0.1, 1.0, 10.0)
NORMS: tuple[int, ...] = (1, 2)
DEAD_THRESHOLD = 1e-3
_T_MAX = 40.0  # phi(40) underflows float64: the quadrature range in t = x / sigma
_X_MAX = 1e8  # the search range for the sup (beyond it: asymptotics)
_NODES = 32
_QUAD_RTOL = 1e-8  # 32 vs 64 nodes per piece must agree to this
_CANCEL = 1e-6  # |f − x| below this share of x loses > 1e-10 of it to float64 rounding

#: The papers' parameters (arXiv 2604.21677 GEM, 2603.21991 λ-GELU) beside the baselines.
PAPER_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("relu", {}), ("gelu", {}), ("gelu_tanh", {}), ("silu", {}), ("mish", {}),
    ("lambda_gelu", {"lam": 1.0}), ("lambda_gelu", {"lam": 4.0}),
    ("lambda_gelu_learnable", {}),
    ("gem", {"N": 1}), ("gem", {"N": 2}),
    ("e_gem", {"N": 1, "eps": 1e-4}), ("e_gem", {"N": 2, "eps": 1e-4}),
    ("e_gem", {"N": 1, "eps": 1e-6}), ("e_gem", {"N": 2, "eps": 1e-6}),
    ("e_gem", {"N": 1, "eps": 10.0}),
    ("se_gem", {"N": 1, "eps": 1e-4}), ("se_gem", {"N": 2, "eps": 1e-4}),
]


def paper_specs(names: Iterable[str] = ()) -> list[Activation]:
    """The tabulated configurations, optionally only those of the given activation names."""
    names = list(names)
    wanted = set(names)
    specs = [activation(n, **p) for n, p in PAPER_CONFIGS if not wanted or n in wanted]
    tabulated = {n for n, _ in PAPER_CONFIGS}
    # relu2, squareplus and registered activations: at their defaults
    others = [n for n in (names or CATALOG) if n not in tabulated]
    return specs + [activation(n) for n in dict.fromkeys(others)]


# --------------------------------------------------------------------------- pieces


def _gap(spec: Activation, x: np.ndarray) -> np.ndarray:
    """f(x) − ReLU(x): the float64 reference, redone at 40 digits where f − x cancels."""
    g = reference(spec, x)[0] - np.maximum(x, 0.0)
    lossy = np.flatnonzero((x > 0) & (np.abs(g) < _CANCEL * x))
    if lossy.size:
        with mpmath.workdps(40):
            mp = MpOps(40)
            g[lossy] = [float(spec.forward(mp, mpmath.mpf(v)) - v) for v in x[lossy].tolist()]
    return g


def _slope(spec: Activation, x: np.ndarray) -> np.ndarray:
    return np.abs(reference(spec, x)[1])


def scales(spec: Activation) -> list[float]:
    """Where the activation changes shape: 1, ε and 1/λ where it has them."""
    out = [1.0]
    eps = spec.params.get("eps")
    if eps is not None:
        out.append(float(eps))
    lam = getattr(spec.p, "lam", None)
    if lam is not None:
        out.append(1.0 / float(lam))
    return out


def _grid(spec: Activation, per_decade: int = 200) -> np.ndarray:
    lo = math.log10(min(scales(spec))) - 5.0
    hi = math.log10(_X_MAX)
    pos = np.logspace(lo, hi, int((hi - lo) * per_decade) + 1)
    return np.concatenate([-pos[::-1], [0.0], pos])


def _pieces(spec: Activation, sigma: float) -> np.ndarray:
    """Breakpoints in t = x/σ: 0, then a ratio-2 sequence from the smallest scale to 40."""
    lo = min(scales(spec)) / sigma * 1e-3
    n = max(1, math.ceil(math.log2(_T_MAX / lo)))
    pos = lo * 2.0 ** np.arange(n + 1)
    pos = np.append(pos[pos < _T_MAX], _T_MAX)
    return np.concatenate([-pos[::-1], [0.0], pos])


def _gauss_moment(spec: Activation, sigma: float, p: float, nodes: int) -> float:
    """E|gap(X)|^p, X ~ N(0, σ²), composite Gauss–Legendre with ``nodes`` per piece."""
    edges = _pieces(spec, sigma)
    u, w = np.polynomial.legendre.leggauss(nodes)
    a, b = edges[:-1, None], edges[1:, None]
    t = (0.5 * (b - a) * u + 0.5 * (a + b)).ravel()
    wt = (0.5 * (b - a) * w).ravel()
    dens = np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    return float(np.sum(wt * dens * np.abs(_gap(spec, sigma * t)) ** p))


def lp_distance(spec: Activation, p: float, sigma: float) -> float:
    """(E|f(X) − ReLU(X)|^p)^{1/p} under X ~ N(0, σ²); p = inf gives the sup over the line."""
    if math.isinf(p):
        return sup_gap(spec)[0]
    m = _gauss_moment(spec, sigma, p, _NODES)
    check = _gauss_moment(spec, sigma, p, 2 * _NODES)
    if abs(m - check) > _QUAD_RTOL * abs(check) + 1e-300:
        raise ArithmeticError(f"{spec.label}: quadrature did not converge (L{p}, sigma {sigma})")
    return check ** (1.0 / p)


def sup_gap(spec: Activation) -> tuple[float, float]:
    """(max |f − ReLU| over the real line, where); where = ±inf if approached asymptotically,
    nan if f is ReLU."""
    x = _grid(spec)
    g = np.abs(_gap(spec, x))
    i = int(np.argmax(g))
    if g[i] == 0.0:
        return 0.0, math.nan
    if i in (0, len(x) - 1):  # largest at the end of the search: the asymptote
        return float(g[i]), math.copysign(math.inf, x[i])
    res = optimize.minimize_scalar(lambda v: -abs(float(_gap(spec, np.array([v]))[0])),
                                   bounds=(x[i - 1], x[i + 1]), method="bounded",
                                   options={"xatol": 1e-12 * max(abs(x[i]), 1e-300)})
    best = -float(res.fun)
    return (best, float(res.x)) if best >= g[i] else (float(g[i]), float(x[i]))


def _slope_minima(spec: Activation, x: np.ndarray, d: np.ndarray) -> list[float]:
    """Refined local minima of |f'| between grid points (narrow dips the grid steps over)."""
    idx = np.flatnonzero((d[1:-1] < d[:-2]) & (d[1:-1] < d[2:])) + 1
    out = []
    for i in idx:
        res = optimize.minimize_scalar(lambda v: float(_slope(spec, np.array([v]))[0]),
                                       bounds=(x[i - 1], x[i + 1]), method="bounded",
                                       options={"xatol": 1e-14 * max(abs(x[i]), 1e-300)})
        out.append(float(res.x))
    return out


def dead_intervals(spec: Activation,
                   threshold: float = DEAD_THRESHOLD) -> list[tuple[float, float]]:
    """The intervals where |f'(x)| < threshold (ends may be ±inf)."""
    x = _grid(spec)
    x = np.unique(np.concatenate([x, _slope_minima(spec, x, _slope(spec, x))]))
    dead = _slope(spec, x) < threshold

    def crossing(a: float, b: float) -> float:
        return optimize.brentq(lambda v: float(_slope(spec, np.array([v]))[0]) - threshold,
                               a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps)

    out, start = [], (-math.inf if dead[0] else None)
    for i in range(1, len(x)):
        if dead[i] == dead[i - 1]:
            continue
        c = crossing(x[i - 1], x[i])
        if dead[i]:
            start = c
        else:
            out.append((start, c))
            start = None
    if start is not None:
        out.append((start, math.inf))
    return out


def dead_share(spec: Activation, sigma: float, threshold: float = DEAD_THRESHOLD) -> float:
    """P(|f'(X)| < threshold) under X ~ N(0, σ²)."""
    return _probability(dead_intervals(spec, threshold), sigma)


def _probability(intervals: Iterable[tuple[float, float]], sigma: float) -> float:
    return float(sum(special.ndtr(b / sigma) - special.ndtr(a / sigma) for a, b in intervals))


# --------------------------------------------------------------------------- tables


def likeness(spec: Activation) -> dict[str, Any]:
    """One row: every likeness figure of one activation configuration."""
    f0, d0 = reference(spec, np.zeros(1))
    sup, where = sup_gap(spec)
    row: dict[str, Any] = {"activation": spec.label, "f(0)": float(f0[0]),
                           "f'(0)": float(d0[0]), "sup": sup, "at x": where}
    for p in NORMS:
        for s in SIGMAS:
            row[f"L{p} s={s:g}"] = lp_distance(spec, p, s)
    intervals = dead_intervals(spec)
    for s in SIGMAS:
        row[f"dead s={s:g}"] = _probability(intervals, s)
    return row


def likeness_table(specs: Sequence[Activation] | None = None) -> list[dict[str, Any]]:
    """Likeness rows for the given activations (default: every one at the papers' values)."""
    return [likeness(s) for s in (paper_specs() if specs is None else specs)]


def lambda_gelu_table(lams: Sequence[float] = (1, 2, 4, 8, 16, 32, 64, 128),
                      sigma: float = 1.0) -> list[dict[str, Any]]:
    """The error of replacing λ-GELU by ReLU, per λ (L1, L2 under N(0, σ²), sup, λ·sup)."""
    rows = []
    for lam in lams:
        spec = activation("lambda_gelu", lam=float(lam))
        sup = sup_gap(spec)[0]
        rows.append({"lam": float(lam), f"L1 s={sigma:g}": lp_distance(spec, 1, sigma),
                     f"L2 s={sigma:g}": lp_distance(spec, 2, sigma), "sup": sup,
                     "lam*sup": lam * sup})
    return rows


def fitted_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def egem_exponents(ns: Sequence[int] = (1, 2), ps: Sequence[float] = (1, 2, math.inf),
                   epss: Sequence[float] = tuple(10.0 ** -k for k in range(2, 7)),
                   sigma: float = 1.0) -> list[dict[str, Any]]:
    """Measured exponent of ||e_gem − ReLU||_p in ε (fit over ``epss``) beside 1 + 1/p.

    For N = 1, p = 1 the gap decays like ε²/x, so the L¹ norm carries a log(1/ε) factor; the
    row also gives the exponent with that factor divided out.
    """
    rows = []
    for n in ns:
        for p in ps:
            errs = [lp_distance(activation("e_gem", N=n, eps=e), p, sigma) for e in epss]
            row = {"N": n, "p": p, "measured": fitted_exponent(epss, errs),
                   "expected": 1.0 + (0.0 if math.isinf(p) else 1.0 / p)}
            if n == 1 and p == 1:
                row["measured / log(1/eps)"] = fitted_exponent(
                    epss, [e / math.log(1.0 / x) for e, x in zip(errs, epss)])
            rows.append(row)
    return rows


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "+inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def likeness_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of rows (any of the tables above); columns from the first row."""
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def likeness_report(names: Sequence[str] = ()) -> str:
    """The likeness table (and the λ-GELU / E-GEM tables where asked), as markdown text."""
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise ParameterError(f"unknown activation {unknown[0]!r}; expected one of "
                             f"{', '.join(CATALOG)}")
    parts = ["ReLU-likeness (sup = max |f - ReLU| over the line, at x; Lp: (E|f - ReLU|^p)^(1/p) "
             "under N(0, s^2); dead = P(|f'| < 1e-3) under N(0, s^2))",
             likeness_markdown(likeness_table(paper_specs(names)))]
    if not names or "lambda_gelu" in names:
        parts += ["\nReplacing lambda-GELU by ReLU", likeness_markdown(lambda_gelu_table())]
    if not names or "e_gem" in names:
        parts += ["\nE-GEM: exponent of ||e_gem - ReLU||_p in eps (N(0, 1), eps 1e-6 .. 1e-2)",
                  likeness_markdown(egem_exponents())]
    return "\n".join(parts)
