"""Transcendental-free peers of GEM: squared ReLU (So et al. 2021, "Primer") and squareplus
(Barron 2021), in branch-free forms that stay accurate relative to their value.

- ``relu2``: f(x) = relu(x)^2, f'(x) = 2 relu(x).
- ``squareplus``: f(x) = (x + sqrt(x^2 + b)) / 2, f'(x) = (1 + x / sqrt(x^2 + b)) / 2.

squareplus cancels for x < 0 in its textbook form. Since f(x) - f(-x) = x, with a = |x|:
f(x) = relu(x) + g(a), g(a) = f(-a) = b / (2 (s + a)), s = sqrt(a^2 + b); and
f'(x) = q + step(x) (1 - 2q), q = f'(-a) = b / (2 s (s + a)). Nothing cancels. With
h = max(a, sqrt(b)), s = h sqrt((a/h)^2 + (sqrt(b)/h)^2): the root's argument lies in [1, 2], so
no square overflows for any finite x. a = relu(x) - min(x, 0) passes autograd the slope -1 at
x = 0 (|x|'s is 0 there), so torch autograd through f gives f'(0) = 1/2 as it should.
"""

from __future__ import annotations

import math
from typing import Any


def relu2_f(ops: Any, x: Any, p: Any) -> Any:
    r = ops.relu(x)
    return r * r


def relu2_d(ops: Any, x: Any, p: Any) -> Any:
    return 2.0 * ops.relu(x)


def _squareplus_parts(ops: Any, x: Any, p: Any) -> tuple[Any, Any, Any]:
    """(g, t, h): g = f(-|x|), s = h t = sqrt(x^2 + b)."""
    rb = math.sqrt(p.b)
    a = ops.relu(x) - ops.clamp(x, -math.inf, 0.0)
    h = ops.clamp(a, rb, math.inf)
    alpha, beta = a / h, rb / h
    t = ops.sqrt(alpha * alpha + beta * beta)
    return (rb * beta) / (2.0 * (t + alpha)), t, h


def squareplus_f(ops: Any, x: Any, p: Any) -> Any:
    g, _t, _h = _squareplus_parts(ops, x, p)
    return ops.relu(x) + g


def squareplus_d(ops: Any, x: Any, p: Any) -> Any:
    g, t, h = _squareplus_parts(ops, x, p)
    q = (g / t) / h
    return q + ops.step(x) * (1.0 - 2.0 * q)
