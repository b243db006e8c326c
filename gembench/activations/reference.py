"""The float64 reference: the catalog's formulas evaluated in NumPy float64."""

from __future__ import annotations

import numpy as np

from gembench.activations.catalog import Activation
from gembench.activations.ops import NumpyOps

_F64 = NumpyOps(np.float64)


def reference(spec: Activation, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(f(x), f'(x))`` in float64 for a float64 NumPy array ``x``."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
        return spec.forward(_F64, x), spec.derivative(_F64, x)


def reference_param_grads(spec: Activation, x: np.ndarray, dy: np.ndarray) -> dict[str, float]:
    """dL/dparam in float64 for learnable activations (empty dict otherwise)."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
        terms = spec.param_grad_terms(_F64, x, dy)
    return {k: float(np.sum(v, dtype=np.float64)) for k, v in terms.items()}
