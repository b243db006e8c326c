"""Numerical error against the float64 reference, in units of the dtype's epsilon."""

from __future__ import annotations

from typing import Any

import numpy as np

from gembench.activations.catalog import Activation
from gembench.activations.dtypes import DType


def error_in_eps(got: np.ndarray, ref: np.ndarray, dtype: DType, relative: bool) -> np.ndarray:
    """Per-element error ``|got - ref| / (eps * max(|ref|, floor))``.

    ``floor`` is 1 (absolute below 1, relative above: the torch.testing convention) unless
    ``relative`` is set, where it is the dtype's smallest normal number (relative accuracy all
    the way down, used for activations whose formulas promise it). A non-finite result where the
    reference rounds to a finite number of the dtype is an infinite error; NaN never passes.
    """
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    floor = dtype.tiny if relative else 1.0
    with np.errstate(all="ignore"):
        err = np.abs(got - ref) / (dtype.eps * np.maximum(np.abs(ref), floor))
    overflows = np.abs(ref) >= dtype.max * (1 + dtype.eps / 2)  # ref rounds to inf in dtype
    ok_inf = overflows & np.isinf(got) & (np.sign(got) == np.sign(ref))
    err = np.where(ok_inf, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def tolerances(kern: Any, dtype: DType) -> tuple[float, float, str]:
    """(forward, backward) tolerance in eps for a built kernel, and why when it is not the
    dtype's: a kernel gembench does not own (``torch.nn.functional``) declares its measured
    bounds as ``tolerance = {dtype: (forward, backward)}`` with a ``tolerance_note``; every
    formula of gembench's own is held to the dtype's tolerances."""
    declared = getattr(kern, "tolerance", {}).get(dtype.name)
    if declared is None:
        return dtype.forward_tol, dtype.backward_tol, ""
    return declared[0], declared[1], getattr(kern, "tolerance_note", "")


def max_error(got: np.ndarray, ref: np.ndarray, dtype: DType, spec: Activation) -> float:
    """Largest :func:`error_in_eps` over an array (inf if any NaN or spurious inf)."""
    err = error_in_eps(got, ref, dtype, spec.definition.relative_accuracy)
    return float(err.max()) if err.size else 0.0
