"""Shared fixtures: the catalog cases every backend is checked on."""

from __future__ import annotations

import os

# Triton kernels run in the interpreter on machines without a GPU.
os.environ.setdefault("TRITON_INTERPRET", "1")

import gembench
from gembench.activations.catalog import CHECK_CONFIGS

#: Activations at defaults plus the papers' parameters (one list, shared with
#: ``gembench accuracy``).
SPEC_ARGS: list[tuple[str, dict]] = CHECK_CONFIGS


def spec_id(arg: tuple[str, dict]) -> str:
    return gembench.activation(arg[0], **arg[1]).label
