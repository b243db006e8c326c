"""``triton``: hand-written Triton kernels (:mod:`.triton_kernels`), forward and backward.

The forward kernel reads x and writes y; the backward kernel reads x and dy and writes dx in
one pass (for ``lambda_gelu_learnable`` it also reduces dL/ds from per-program partial sums).
Half-precision inputs compute in float32 and round once. A ``torch.autograd.Function`` wraps
the two kernels and saves only x for backward.

Activations without a hand-written kernel (relu2, squareplus, registered ones) get kernels
generated from their catalog formulas (:mod:`.triton_codegen`), launched the same way.

On CUDA the kernels are compiled and autotuned (block size, warps) per tensor size. On CPU they
run in Triton's interpreter (``TRITON_INTERPRET=1``, set before triton is imported): correct
results, meaningless timings.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import torch

from gembench.activations.catalog import Activation
from gembench.backends.base import Availability
from gembench.backends.torch_common import TORCH_DTYPES, TorchBackend
from gembench.backends.torch_eager import AutogradKernel

_CPU_NEEDS_INTERPRETER = (
    "Triton runs on CPU only in its interpreter: set TRITON_INTERPRET=1 before triton is "
    "imported"
)


#: activations with a hand-written kernel (triton_kernels.ACTIVATIONS, without importing it);
#: the others get kernels generated from their formulas (:mod:`.triton_codegen`)
_HAND_WRITTEN = ("relu", "gelu", "gelu_tanh", "silu", "mish", "lambda_gelu",
                 "lambda_gelu_learnable", "gem", "e_gem", "se_gem")


def _kernels() -> Any:
    """The kernel module (imported on first use: it fixes interpreter mode at import)."""
    return importlib.import_module(".triton_kernels", __package__)


class _TritonFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: torch.Tensor | None, kernel: TritonKernel,
                out: torch.Tensor | None = None) -> torch.Tensor:
        ctx.kernel = kernel
        # s (the learnable scalar) is an input, not a saved activation: kept as an attribute,
        # like torch_fused's derived parameters; only x goes through save_for_backward.
        ctx.s = s.detach() if s is not None else None
        ctx.save_for_backward(x)
        y = kernel.launch_forward(x, out)
        if out is not None:
            ctx.mark_dirty(out)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        (x,) = ctx.saved_tensors
        s = ctx.s if ctx.needs_input_grad[1] else None
        dx, ds = ctx.kernel.launch_backward(x, dy, s)
        return dx, ds, None, None


class TritonKernel(AutogradKernel):
    """An activation as two Triton kernels behind a ``torch.autograd.Function``."""

    supports_out = True
    saved_for_backward = "x"

    def __init__(self, spec: Activation, dtype: str, device: str) -> None:
        super().__init__(spec, dtype, device)
        self.tk = _kernels()
        self.kp = None
        if spec.name in self.tk.ACTIVATIONS:
            self.kp = self.tk.KernelParams.from_spec(spec.name, dict(spec.params))
        else:  # no hand-written kernel: generated from the catalog formula
            from gembench.backends.triton_codegen import Generated

            self.tk = Generated(spec)
        self.torch_dtype = TORCH_DTYPES[dtype]
        # (BLOCK, num_warps) of this kernel's last launches (the autotuner's pick on CUDA)
        self._configs: dict[str, tuple[int, int] | None] = {"forward": None, "backward": None}

    # ---- checks
    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.torch_dtype:
            raise TypeError(f"triton kernel built for {self.dtype}, got a {x.dtype} tensor")
        if x.device.type == "cpu" and not self.tk.INTERPRET:
            raise RuntimeError(_CPU_NEEDS_INTERPRETER)
        return x.contiguous()

    @staticmethod
    def _check_out(x: torch.Tensor, out: torch.Tensor) -> None:
        if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
            raise ValueError(
                f"out must match x: got {tuple(out.shape)} {out.dtype} on {out.device}, "
                f"x is {tuple(x.shape)} {x.dtype} on {x.device}"
            )
        if not out.is_contiguous():
            raise ValueError("out must be contiguous")
        if out.numel() and x.numel() and out.device == x.device:
            lo_x, lo_o = x.data_ptr(), out.data_ptr()
            hi_x = lo_x + x.numel() * x.element_size()
            hi_o = lo_o + out.numel() * out.element_size()
            if lo_x < hi_o and lo_o < hi_x:
                raise ValueError("out must not overlap x (in-place is unsupported: backward "
                                 "needs x)")

    def _s(self) -> torch.Tensor | None:
        s = self.params.get("s")
        return s.detach() if s is not None else None

    # ---- raw launches (no autograd)
    def launch_forward(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        xc = self._check(x)
        if out is None:
            out = torch.empty_like(xc)
        else:
            self._check_out(x, out)
        y = self.tk.forward(self.kp, xc, out, self._s())
        self._configs["forward"] = self.tk.chosen_config("forward")
        return y

    def launch_backward(self, x: torch.Tensor, dy: torch.Tensor,
                        s: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(dx, ds): ds is computed (a full reduction) only when ``s`` is given."""
        xc = self._check(x)
        if dy.shape != x.shape:
            raise ValueError(f"dy shape {tuple(dy.shape)} does not match x {tuple(x.shape)}")
        dyc = self._check(dy.to(x.dtype))
        dx, ds = self.tk.backward(self.kp, xc, dyc, s)
        self._configs["backward"] = self.tk.chosen_config("backward")
        return dx, ds

    # ---- Kernel protocol
    def forward(self, x: torch.Tensor, out: Any = None) -> torch.Tensor:
        s = self.params.get("s")
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or (s is not None and s.requires_grad)
        )
        if not needs_grad:
            return self.launch_forward(x, out)
        if out is None:
            return _TritonFunction.apply(x, s, self)
        return _TritonFunction.apply(x, s, self, out)

    def grads(self, x: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """The backward kernel directly: one pass over x and dy (no forward recomputation)."""
        dx, ds = self.launch_backward(x.detach(), dy.detach(), self._s())
        return dx, ({"s": ds} if self.spec.learnable else {})

    def describe(self) -> dict[str, Any]:
        fwd, bwd = self._configs["forward"], self._configs["backward"]
        if self.tk.INTERPRET:
            fwd = bwd = self.tk.INTERPRETER_CONFIG
        return {
            "formulation": self.tk.FORMULATION[self.spec.name] + "; one-pass backward kernel",
            "block_size": fwd[0] if fwd else None,
            "num_warps": fwd[1] if fwd else None,
            "backward_block_size": bwd[0] if bwd else None,
            "backward_num_warps": bwd[1] if bwd else None,
            "autotune_configs": [list(c) for c in self.tk.CONFIGS],
            "interpreter": bool(self.tk.INTERPRET),
            "saved_for_backward": self.saved_for_backward,
        }


class TritonBackend(TorchBackend):
    name = "triton"
    summary = "hand-written Triton kernels, one-pass analytic backward, saves only x"
    dtypes = ("float32", "float16", "bfloat16")
    devices = ("cpu", "cuda")
    compiles = True

    _availability: Availability | None = None

    def availability(self) -> Availability:
        if self._availability is None:
            try:
                import triton  # noqa: F401
            except Exception as exc:  # ImportError, or a broken install
                self._availability = Availability(False, f"cannot import triton: {exc}")
            else:
                self._availability = Availability(True)
        return self._availability

    def device_unavailable(self, device: str) -> str | None:
        if device == "cpu":
            if os.environ.get("TRITON_INTERPRET") != "1":
                return _CPU_NEEDS_INTERPRETER
            if not _kernels().INTERPRET:
                return ("the Triton kernels were imported without TRITON_INTERPRET=1: CPU "
                        "needs a fresh process with it set")
            return None
        return super().device_unavailable(device)

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        reason = super().unsupported(spec, dtype, device)
        if reason is None and spec.name not in _HAND_WRITTEN:
            from gembench.backends.triton_codegen import unmappable

            reason = unmappable(spec)
        return reason

    def timing_unsupported(self, device: str) -> str | None:
        if device == "cpu":
            return "Triton on CPU runs in its interpreter: correctness only, timing needs CUDA"
        if os.environ.get("TRITON_INTERPRET") == "1":
            return "TRITON_INTERPRET=1: kernels run in the interpreter, timing needs it unset"
        return None

    def worker_env(self, device: str, run_dir: str) -> dict[str, str]:
        if device == "cpu":
            return {"TRITON_INTERPRET": "1"}
        return {"TRITON_CACHE_DIR": f"{run_dir}/triton-cache"}

    def build(self, spec: Activation, dtype: str, device: str) -> TritonKernel:
        reason = self.unsupported(spec, dtype, device)
        if reason:
            raise RuntimeError(f"triton: cannot build {spec.label} {dtype} on {device}: {reason}")
        return TritonKernel(spec, dtype, device)
