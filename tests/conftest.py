"""Shared fixtures: the catalog cases every backend is checked on."""

from __future__ import annotations

import os

# Triton kernels run in the interpreter on machines without a GPU.
os.environ.setdefault("TRITON_INTERPRET", "1")

import gembench

#: Activations at defaults plus the parameter values the papers use.
SPEC_ARGS: list[tuple[str, dict]] = [(name, {}) for name in gembench.activations()] + [
    ("gem", {"N": 2}),
    ("e_gem", {"N": 2, "eps": 1e-6}),
    ("e_gem", {"N": 1, "eps": 10.0}),
    ("se_gem", {"N": 2, "eps": 1e-4}),
    ("lambda_gelu", {"lam": 4.0}),
    ("lambda_gelu_learnable", {"s": 1.0, "t": 0.1}),
]


def spec_id(arg: tuple[str, dict]) -> str:
    return gembench.activation(arg[0], **arg[1]).label
