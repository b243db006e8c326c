"""ISRLU (Carlile et al. 2017): x for x >= 0, x / sqrt(1 + alpha x^2) below. No exp, no tanh:
gembench traces the formulas and marks it transcendental-free (sqrt is algebraic)."""
import math

import gembench


@gembench.register_activation(name="isrlu", params={"alpha": (1.0, 1e-3, 1e3)})
class Isrlu:
    """x for x >= 0, x / sqrt(1 + alpha x^2) for x < 0"""

    # Formulas get ``ops`` (gembench.activations.ops: +, -, *, /, relu, clamp, step, sqrt,
    # exp, ...), the input x and the parameters p; written once, they run on every backend.
    def forward(ops, x, p):
        n = ops.clamp(x, -math.inf, 0.0)  # min(x, 0)
        return ops.relu(x) + n / ops.sqrt(1.0 + p.alpha * n * n)

    def derivative(ops, x, p):
        n = ops.clamp(x, -math.inf, 0.0)
        r = 1.0 / ops.sqrt(1.0 + p.alpha * n * n)
        return r * r * r  # 1 for x >= 0 (n = 0)
