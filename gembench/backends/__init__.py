"""Backend registry: each backend lives in its own module and registers one class.

Modules are imported lazily; one whose import fails (package missing) is still listed, as
unavailable with the import error as its reason.
"""

from __future__ import annotations

import importlib
import os

from gembench.backends.base import Availability, Backend, Kernel, UnavailableBackend

#: backend name -> "module:Class" defining it. Adding a backend is one module and one line here.
MODULES: dict[str, str] = {
    "numpy": "gembench.backends.numpy_backend:NumpyBackend",
    "torch_eager": "gembench.backends.torch_eager:EagerBackend",
    "torch_fused": "gembench.backends.torch_fused:FusedBackend",
    "torch_compile": "gembench.backends.torch_compile:CompileBackend",
    "torch_compile_fused": "gembench.backends.torch_compile:CompileFusedBackend",
    "triton": "gembench.backends.triton_backend:TritonBackend",
    "onnxruntime": "gembench.backends.onnxruntime_backend:OrtBackend",
}

#: extra backends from the environment: GEMBENCH_BACKENDS="name=package.module:Class,...",
#: for plugins that live outside gembench (worker processes inherit the variable).
for _item in filter(None, os.environ.get("GEMBENCH_BACKENDS", "").split(",")):
    _name, _, _target = _item.partition("=")
    if _name.strip() and ":" in _target:
        MODULES[_name.strip()] = _target.strip()

_cache: dict[str, Backend] = {}


def backend(name: str) -> Backend:
    """Return the named backend (an unavailable stand-in if its module cannot load here)."""
    if name not in MODULES:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(MODULES)}")
    if name not in _cache:
        try:
            module_name, cls = MODULES[name].split(":")
            _cache[name] = getattr(importlib.import_module(module_name), cls)()
        except ImportError as exc:
            _cache[name] = UnavailableBackend(name, f"cannot import: {exc}")
    return _cache[name]


def backend_names() -> list[str]:
    """Names of every backend gembench knows (available here or not)."""
    return list(MODULES)


__all__ = ["Availability", "Backend", "Kernel", "backend", "backend_names"]
