"""Pieces shared by the torch-based backends: dtypes, devices, array conversion."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gembench.activations.catalog import Activation
from gembench.backends.base import Backend

TORCH_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def compute_dtype(dtype: str) -> torch.dtype:
    """Half types compute in float32 inside fused kernels and round once at the end."""
    return torch.float64 if dtype == "float64" else torch.float32


def param_dtype(dtype: str) -> torch.dtype:
    """Learnable parameters stay float32 under half-precision inputs (as in mixed precision)."""
    return torch.float64 if dtype == "float64" else torch.float32


class TensorParams:
    """Bound parameters with lambda derived from the tensor ``s`` (learnable lambda-GELU)."""

    def __init__(self, spec: Activation, s: torch.Tensor) -> None:
        self.__dict__.update(spec.params)
        z = s / spec.params["t"]
        self.s = s
        self.lam = 1.0 + torch.nn.functional.softplus(z)
        self.sig = torch.sigmoid(z)


class TorchBackend(Backend):
    """Base for backends whose native arrays are torch tensors."""

    devices = ("cpu", "cuda")

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        if spec.learnable and spec.name != "lambda_gelu_learnable":
            return ("torch kernels hold only lambda_gelu_learnable's parameter as a tensor; a "
                    "registered learnable activation runs on numpy and onnxruntime")
        return super().unsupported(spec, dtype, device)

    def device_unavailable(self, device: str) -> str | None:
        if device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device on this machine"
        return None

    def from_numpy(self, a: np.ndarray, dtype: str, device: str) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device=device, dtype=TORCH_DTYPES[dtype])

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().to("cpu", torch.float64).numpy()

    def empty_like(self, a: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(a)

    def synchronize(self, device: str) -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
