"""Backend registry: each backend lives in its own module and registers one class.

Modules are imported lazily; one whose import fails (package missing) is still listed, as
unavailable with the import error as its reason.
"""

from __future__ import annotations

import importlib

from .base import Availability, Backend, Kernel, UnavailableBackend

#: backend name -> module defining it (the module's ``BACKEND`` attribute is the class).
MODULES: dict[str, str] = {
    "numpy": "gembench.backends.numpy_backend",
    "torch_eager": "gembench.backends.torch_eager",
    "torch_fused": "gembench.backends.torch_fused",
    "torch_compile": "gembench.backends.torch_compile",
    "triton": "gembench.backends.triton_backend",
    "onnxruntime": "gembench.backends.onnxruntime_backend",
}

_cache: dict[str, Backend] = {}


def backend(name: str) -> Backend:
    """Return the named backend (an unavailable stand-in if its module cannot load here)."""
    if name not in MODULES:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(MODULES)}")
    if name not in _cache:
        try:
            module = importlib.import_module(MODULES[name])
            _cache[name] = module.BACKEND()
        except ImportError as exc:
            _cache[name] = UnavailableBackend(name, f"cannot import: {exc}")
    return _cache[name]


def backends() -> list[str]:
    """Names of every backend gembench knows (available here or not)."""
    return list(MODULES)


__all__ = ["Availability", "Backend", "Kernel", "backend", "backends"]
