"""The built-in backends: name -> ``module:Class`` and the title reports give it. Adding a
backend is its module and its lines here; the registry (:mod:`gembench.backends.registry`)
imports each module only when asked."""

from __future__ import annotations

#: built-in backend name -> "module:Class" defining it (the module is imported on first use)
BACKEND_CLASSES: dict[str, str] = {
    "numpy": "gembench.backends.numpy_backend:NumpyBackend",
    "torch_eager": "gembench.backends.torch_eager:EagerBackend",
    "torch_fused": "gembench.backends.torch_fused:FusedBackend",
    "torch_compile": "gembench.backends.torch_compile:CompileBackend",
    "torch_compile_fused": "gembench.backends.torch_compile:CompileFusedBackend",
    "triton": "gembench.backends.triton_backend:TritonBackend",
    "onnxruntime": "gembench.backends.onnxruntime_backend:OrtBackend",
}

#: how reports name a built-in backend in a sentence (any other backend: its name); kept here,
#: not on the classes, so that writing a report imports no backend module (nor torch)
TITLES: dict[str, str] = {
    "numpy": "NumPy",
    "torch_eager": "eager PyTorch",
    "torch_fused": "fused autograd.Function",
    "torch_compile": "torch.compile",
    "torch_compile_fused": "torch.compile, fused",
    "triton": "Triton",
    "onnxruntime": "ONNX Runtime",
}
