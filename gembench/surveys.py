"""Surveys across every backend, for the command line: the ``accuracy`` table (worst error in
eps per backend and dtype over the catalog). They sit above the activations and backends they
survey."""

from __future__ import annotations

from typing import Any

import numpy as np

from gembench.activations.accuracy import max_error, tolerances
from gembench.activations.accuracy_inputs import check_inputs
from gembench.activations.catalog import CHECK_CONFIGS, activation
from gembench.activations.dtypes import DTYPES
from gembench.activations.reference import reference
from gembench.backends import backend
from gembench.backends import backend_names as _names


def accuracy_survey(backend_names: list[str] | None = None,
                    seed: int = 0) -> list[dict[str, object]]:
    """Worst forward and backward error (in eps) per backend and dtype over every activation
    of the catalog (defaults and the papers' parameters), on random inputs at several scales
    and the adversarial set (signed zeros, subnormals, the eps scale, +-1e4, near overflow)."""
    specs = [activation(name, **params) for name, params in CHECK_CONFIGS]
    rows: list[dict[str, object]] = []
    for name in backend_names or _names():
        be = backend(name)
        for dt, d in DTYPES.items():
            # gembench's own formulas in one row; kernels with a declared tolerance apart
            groups: dict[tuple[float, float, str], dict[str, Any]] = {}
            for spec in specs:
                if be.unsupported(spec, dt, "cpu"):
                    continue
                x, dy = check_inputs(d, seed, 2000)
                kern = be.build(spec, dtype=dt, device="cpu")
                if kern.domain is not None:
                    keep = np.abs(x) <= kern.domain
                    x, dy = x[keep], dy[keep]
                xn, dyn = be.from_numpy(x, dt, "cpu"), be.from_numpy(dy, dt, "cpu")
                ry, rd = reference(spec, x)
                errs = {"forward": max_error(be.to_numpy(kern.forward(xn)), ry, d, spec),
                        "backward": max_error(be.to_numpy(kern.backward(xn, dyn)), dy * rd, d,
                                              spec)}
                g = groups.setdefault(tolerances(kern, d), {"ran": 0, "forward": (0.0, ""),
                                                            "backward": (0.0, "")})
                for k, e in errs.items():
                    if e >= g[k][0]:
                        g[k] = (e, spec.label)
                g["ran"] += 1
            for (ftol, btol, note), g in groups.items():
                rows.append({"backend": name + (" (declared)" if note else ""), "dtype": dt,
                             "activations": g["ran"],
                             "forward_eps": g["forward"][0], "forward_worst": g["forward"][1],
                             "backward_eps": g["backward"][0],
                             "backward_worst": g["backward"][1],
                             "forward_tol": ftol, "backward_tol": btol})
    return rows
