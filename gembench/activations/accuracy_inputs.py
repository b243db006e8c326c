"""Test inputs: random values at several scales and adversarial values for each dtype."""

from __future__ import annotations

import numpy as np

from gembench.activations.dtypes import DType


def adversarial(dtype: DType,
                eps_values: tuple[float, ...] = (1e-6, 1e-4, 1.0, 10.0)) -> np.ndarray:
    """Signed zeros, subnormals, the eps scale, +-1e4 and values near the dtype's overflow."""
    vals = [0.0, -0.0, dtype.tiny, dtype.tiny / 2, dtype.tiny * dtype.eps, 1.0, 1e4]
    for e in eps_values:
        vals += [e * k for k in (0.25, 0.5, 0.999, 1.0, 1.001, 2.0, 4.0)]
    big = dtype.max
    vals += [big, big * 0.5, big * 0.99, big**0.5, big ** (1 / 3), big**0.2]
    vals += [6.6, 9.0, 20.0, 40.0]  # fp16 overflow points of the naive GEM forms
    vals += [8.0, 9.5, 30.0, 100.0, 1e3, 1e-3, 1e-2, 0.1]
    arr = np.array(vals, dtype=np.float64)
    return np.concatenate([arr, -arr])


def random_normal(n: int, seed: int,
                  scales: tuple[float, ...] = (1e-3, 1.0, 10.0, 1e3)) -> np.ndarray:
    """Standard normal samples at several scales (fresh per seed)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_normal(n) * s for s in scales])


def as_dtype(x: np.ndarray, dtype: DType) -> np.ndarray:
    """``x`` rounded to ``dtype`` and back to float64 (clipped to the dtype's finite range)."""
    import torch

    x = np.clip(x, -dtype.max, dtype.max)
    t = torch.from_numpy(np.ascontiguousarray(x)).to(getattr(torch, dtype.name))
    return t.to(torch.float64).numpy()


def check_inputs(dtype: DType, seed: int, n_random: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, dy)`` for an accuracy check, both rounded to ``dtype``: the adversarial set plus
    random normals at several scales, and upstream gradients of magnitude 0.5-2, either sign."""
    rng = np.random.default_rng(seed)
    x = as_dtype(np.concatenate([adversarial(dtype), random_normal(n_random, seed)]), dtype)
    dy = as_dtype(rng.uniform(0.5, 2.0, x.size) * rng.choice([-1.0, 1.0], x.size), dtype)
    return x, dy
