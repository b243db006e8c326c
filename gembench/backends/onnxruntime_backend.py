"""``onnxruntime``: the catalog formulas as ONNX graphs (:mod:`gembench.backends.onnx_graphs`),
run by ONNX Runtime with I/O binding.

One session runs the forward graph (x -> y), another the backward graph (x, dy -> dx, and the
reduced parameter gradient ds for the learnable lambda-GELU, whose s is baked into the graph as
a constant). Sessions use graph optimisation ORT_ENABLE_ALL, the run's intra-op thread count and
no spinning (ONNX Runtime shares the process with torch). Native arrays are NumPy arrays on the
CPU (bfloat16 through ``ml_dtypes``) and torch tensors on CUDA; inputs and outputs are bound by
pointer, so a run copies nothing, and ``forward(x, out=buf)`` writes into ``buf``. (The CUDA
path runs ORT on torch's current stream; it has not been run on a CUDA machine yet.)

ONNX Runtime does not fuse elementwise nodes on the CPU, and its ``Where`` is neither
vectorised nor always parallel (microsoft/onnxruntime#5896): the GEM graphs' cost is mostly
their ``Where`` nodes. That is what running these graphs in ONNX Runtime costs, and is reported.

A case whose graph ONNX Runtime cannot run (e.g. no float64 kernel for ``Erf`` or ``Softplus``
on the CPU provider) is unsupported, with ONNX Runtime's own complaint as the reason.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from gembench.activations.catalog import Activation
from gembench.backends.base import AVAILABLE, Availability, Backend, Kernel
from gembench.backends.onnx_graphs import (
    COMPUTE_DTYPE,
    ELEM_TYPE,
    backward_model,
    forward_model,
    graph_report,
    native_op,
    onnx_opset,
    ort_session_options,
)

try:
    import onnxruntime as ort
except ImportError as exc:  # reported by availability()
    ort = None
    _IMPORT_ERROR = f"cannot import onnxruntime: {exc}"
else:
    _IMPORT_ERROR = ""

try:
    import ml_dtypes

    _BF16: Any = ml_dtypes.bfloat16
except ImportError:
    _BF16 = None

_NP: dict[str, Any] = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
if _BF16 is not None:
    _NP["bfloat16"] = _BF16

_PROVIDER = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
_LEVEL = "ORT_ENABLE_ALL"


def _ort_device(device: str) -> tuple[str, int]:
    if device.startswith("cuda"):
        _, _, idx = device.partition(":")
        return "cuda", int(idx or 0)
    return "cpu", 0


class OrtKernel(Kernel):
    supports_out = True
    saved_for_backward = "x (by construction: the gradient graph reads x)"

    def __init__(self, spec: Activation, dtype: str, device: str, threads: int | None,
                 opset: int) -> None:
        super().__init__(spec, dtype, device)
        self.threads = threads
        self.opset = opset
        self.elem = ELEM_TYPE[dtype]
        self.compute = COMPUTE_DTYPE[dtype]
        self.provider = _PROVIDER[_ort_device(device)[0]]
        self.models = {"forward": forward_model(spec, dtype, opset),
                       "backward": backward_model(spec, dtype, opset)}
        self.sessions = {k: _session(m, device, threads) for k, m in self.models.items()}
        got = self.sessions["forward"].get_providers()[0]
        if got != self.provider:
            raise RuntimeError(f"onnxruntime placed the graph on {got}, not {self.provider}")
        self._io = {k: s.io_binding() for k, s in self.sessions.items()}
        self._param_outputs = [o.name for o in self.models["backward"].graph.output[1:]]
        self._report: dict[str, Any] | None = None

    # ---- running
    def _bind_in(self, io: Any, name: str, a: Any) -> tuple[int, ...]:
        a = self._native(a, name)
        dev, idx = _ort_device(self.device)
        io.bind_input(name, dev, idx, self.elem, [_numel(a)], _ptr(a))
        return tuple(a.shape)

    def _native(self, a: Any, what: str) -> Any:
        if self.device == "cpu":
            if not isinstance(a, np.ndarray) or a.dtype != _NP[self.dtype] \
                    or not a.flags.c_contiguous:
                raise TypeError(f"{what}: expected a C-contiguous {self.dtype} NumPy array")
        elif not a.is_contiguous() or a.dtype != _torch_dtype(self.dtype):
            raise TypeError(f"{what}: expected a contiguous {self.dtype} torch tensor")
        return a

    def _empty(self, shape: tuple[int, ...], dtype: str, zero: bool = False) -> Any:
        if self.device == "cpu":
            return (np.zeros if zero else np.empty)(shape, dtype=_NP[dtype])
        import torch

        make = torch.zeros if zero else torch.empty
        return make(shape, dtype=_torch_dtype(dtype), device=self.device)

    def _bind_out(self, io: Any, name: str, a: Any, elem: int) -> None:
        dev, idx = _ort_device(self.device)
        io.bind_output(name, dev, idx, elem, [_numel(a)] if a.ndim else [], _ptr(a))

    def forward(self, x: Any, out: Any = None) -> Any:
        io = self._io["forward"]
        shape = self._bind_in(io, "x", x)
        if out is None:
            out = self._empty(shape, self.dtype)
        else:
            self._native(out, "out")
            if tuple(out.shape) != shape:
                raise ValueError(f"out has shape {tuple(out.shape)}, x has {shape}")
        if _numel(out) == 0:
            return out
        self._bind_out(io, "y", out, self.elem)
        self.sessions["forward"].run_with_iobinding(io)
        return out

    def grads(self, x: Any, dy: Any) -> tuple[Any, dict[str, Any]]:
        io = self._io["backward"]
        shape = self._bind_in(io, "x", x)
        if self._bind_in(io, "dy", dy) != shape:
            raise ValueError("x and dy differ in shape")
        dx = self._empty(shape, self.dtype)
        params = {n[1:]: self._empty((), self.compute, zero=True) for n in self._param_outputs}
        if _numel(dx) == 0:
            return dx, params
        self._bind_out(io, "dx", dx, self.elem)
        for name, buf in params.items():
            self._bind_out(io, f"d{name}", buf, ELEM_TYPE[self.compute])
        self.sessions["backward"].run_with_iobinding(io)
        return dx, params

    # ---- facts
    def describe(self) -> dict[str, Any]:
        if self._report is None:
            graphs = {}
            for k, m in self.models.items():
                graphs[k] = graph_report(m, lambda: ort_session_options(self.threads),
                                         _providers(self.device))
            opt = ort_session_options(self.threads)
            self._report = {
                "execution_provider": self.sessions["forward"].get_providers()[0],
                "onnxruntime": ort.__version__,
                "opset": self.opset,
                "forward_op": native_op(self.spec, self.dtype, self.opset) or "catalog formula",
                "formulation": (native_op(self.spec, self.dtype, self.opset)
                                or self.spec.definition.formulation) + "; analytic backward graph",
                "compute_dtype": self.compute,
                "graph_optimization_level": _LEVEL,
                "intra_op_threads": opt.intra_op_num_threads,
                "intra_op_threads_note": "0 = ONNX Runtime's default (one per physical core)",
                "spinning": False,
                "io_binding": True,
                "nodes_built": {k: g["nodes_built"] for k, g in graphs.items()},
                "nodes_optimized": {k: g["nodes_optimized"] for k, g in graphs.items()},
                "transcendental_ops": {k: g["transcendental_ops"] for k, g in graphs.items()},
                "unclassified_ops": {k: g["unclassified_ops"] for k, g in graphs.items()},
            }
        return self._report


def _numel(a: Any) -> int:
    return a.size if isinstance(a, np.ndarray) else a.numel()


def _ptr(a: Any) -> int:
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data_ptr()


def _torch_dtype(dtype: str) -> Any:
    import torch

    return getattr(torch, dtype)


def _providers(device: str) -> list[Any]:
    """CPU, or CUDA on torch's current stream (so ORT's work is ordered with torch's, and CUDA
    events recorded by the engine time it)."""
    kind, idx = _ort_device(device)
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    import torch

    stream = torch.cuda.current_stream(idx).cuda_stream
    return [("CUDAExecutionProvider", {"device_id": str(idx),
                                       "user_compute_stream": str(stream)})]


def _session(model: Any, device: str, threads: int | None) -> Any:
    return ort.InferenceSession(model.SerializeToString(), ort_session_options(threads),
                                providers=_providers(device))


_MISSING = re.compile(r"Could not find an implementation for (\w+)\((\d+)\)")


class OrtBackend(Backend):
    name = "onnxruntime"
    summary = ("catalog formulas as ONNX graphs (Relu/Gelu operators for the baselines), "
               "ONNX Runtime ORT_ENABLE_ALL, I/O binding (half types computed in float32)")
    dtypes = ("float64", "float32", "float16", "bfloat16")
    devices = ("cpu", "cuda")

    def __init__(self) -> None:
        self.threads: int | None = None
        self._probed: dict[tuple[str, str, str], str | None] = {}

    def configure(self, threads: int | None = None) -> None:
        self.threads = threads

    def availability(self) -> Availability:
        if ort is None:
            return Availability(False, _IMPORT_ERROR)
        return AVAILABLE

    def device_unavailable(self, device: str) -> str | None:
        if device.startswith("cuda"):
            have = ort.get_available_providers()
            if "CUDAExecutionProvider" not in have:
                return ("onnxruntime here has no CUDAExecutionProvider (providers: "
                        f"{', '.join(have)})")
            import torch

            if not torch.cuda.is_available():
                return "CUDA native arrays are torch tensors, and torch sees no CUDA device"
        return None

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        reason = super().unsupported(spec, dtype, device)
        if reason:
            return reason
        if dtype == "bfloat16" and _BF16 is None and device == "cpu":
            return "bfloat16 NumPy arrays need ml_dtypes, which is not installed"
        key = (spec.label, dtype, device)
        if key not in self._probed:
            self._probed[key] = self._probe(spec, dtype, device)
        return self._probed[key]

    def _probe(self, spec: Activation, dtype: str, device: str) -> str | None:
        """Build both graphs and load them: ONNX Runtime names a missing kernel at load."""
        provider = _PROVIDER[_ort_device(device)[0]]
        for what, build in (("forward", forward_model), ("backward", backward_model)):
            try:
                _session(build(spec, dtype, onnx_opset()), device, 1)
            except Exception as exc:
                m = _MISSING.search(str(exc))
                if m:
                    return (f"onnxruntime {ort.__version__} {provider} has no {dtype} kernel "
                            f"for {m.group(1)} (opset {m.group(2)}), used by the {what} graph "
                            f"of {spec.label}")
                return f"onnxruntime cannot load the {what} graph of {spec.label}: {exc}"
        return None

    def build(self, spec: Activation, dtype: str, device: str) -> OrtKernel:
        if ort is None:
            raise RuntimeError(_IMPORT_ERROR)
        return OrtKernel(spec, dtype, device, self.threads, onnx_opset())

    # ---- native arrays
    def from_numpy(self, a: np.ndarray, dtype: str, device: str) -> Any:
        if device == "cpu":
            if dtype not in _NP:
                raise TypeError(f"no NumPy dtype for {dtype} (ml_dtypes is not installed)")
            return np.ascontiguousarray(a, dtype=_NP[dtype])
        import torch

        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device=device, dtype=_torch_dtype(dtype)).contiguous()

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, np.ndarray) or np.isscalar(a):
            return np.asarray(a, dtype=np.float64)
        return a.detach().to("cpu", _torch_dtype("float64")).numpy()

    def empty_like(self, a: Any) -> Any:
        if isinstance(a, np.ndarray):
            return np.empty_like(a)
        import torch

        return torch.empty_like(a)

    def synchronize(self, device: str) -> None:
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
