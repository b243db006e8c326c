"""Floating-point dtypes gembench knows, and the accuracy tolerances for each (the one place)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    """A floating-point format: its limits and the error gembench accepts in it.

    Errors are measured in units of ``eps`` (the gap between 1 and the next number) relative to
    ``max(|reference|, floor)``; see :func:`gembench.activations.accuracy.error_in_eps`.
    ``forward_tol`` and ``backward_tol`` are the largest accepted errors, in eps, for y and dx.
    """

    name: str
    itemsize: int
    eps: float
    tiny: float  # smallest positive normal number
    max: float
    forward_tol: float
    backward_tol: float


# Tolerances for gembench's own formulas: half types are computed in float32 and rounded once
# by the fused kernels, but the eager backend, written as a user writes it, rounds after every
# op; the budget covers that. The formulas avoid cancellation (1 - tanh^2 comes from sigmoids or
# exp(-|z|)), so float64 and float32 derivatives get the forward's 16 eps. A kernel gembench does
# not own (torch.nn.functional) may declare its own measured tolerance (see
# :func:`gembench.activations.accuracy.tolerances`).
DTYPES: dict[str, DType] = {
    "float64": DType("float64", 8, 2.0**-52, 2.2250738585072014e-308, 1.7976931348623157e308,
                     16, 16),
    "float32": DType("float32", 4, 2.0**-23, 1.1754943508222875e-38, 3.4028234663852886e38, 16, 16),
    "float16": DType("float16", 2, 2.0**-10, 6.103515625e-05, 65504.0, 8, 16),
    "bfloat16": DType("bfloat16", 2, 2.0**-7, 1.1754943508222875e-38, 3.3895313892515355e38, 8, 16),
}


def dtype(name: str) -> DType:
    """Look up a dtype by name, with a clear error for unknown names."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}") from None
