"""``torch_fused``: a ``torch.autograd.Function`` with the analytic derivative as backward.

It saves only x for backward; half-precision inputs compute in float32 and round once. For
``lambda_gelu_learnable`` the backward also returns dL/ds, a full reduction over the tensor.
"""

from __future__ import annotations

from typing import Any

import torch

from gembench.activations.catalog import Activation
from gembench.activations.ops import TorchOps
from gembench.backends.torch_common import TensorParams, TorchBackend, compute_dtype
from gembench.backends.torch_eager import AutogradKernel


class _FusedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernel: FusedKernel, s: torch.Tensor | None) -> Any:
        p = kernel.bound_params(s)
        ctx.kernel, ctx.p = kernel, p
        ctx.save_for_backward(x)
        xc = x.to(kernel.compute)
        return kernel.spec.definition.forward(kernel.ops, xc, p).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        (x,) = ctx.saved_tensors
        kernel, p = ctx.kernel, ctx.p
        xc, dyc = x.to(kernel.compute), dy.to(kernel.compute)
        dx = (dyc * kernel.spec.definition.derivative(kernel.ops, xc, p)).to(x.dtype)
        ds = None
        if kernel.spec.learnable:
            terms = kernel.spec.definition.param_grads(kernel.ops, xc, dyc, p)
            ds = terms["s"].sum()
        return dx, None, ds


class _ReluFunction(torch.autograd.Function):
    """ReLU at its best in eager mode: one pass forward, and torch's own fused backward kernel
    (``threshold_backward``: one pass over dy and x) rather than three elementwise passes."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.relu(x)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(dy, x, 0)


class FusedKernel(AutogradKernel):
    #: the ReLU baseline uses torch's fused backward kernel (eager); compiled variants turn
    #: this off, since inductor lowers that kernel to a select on a bool mask
    native_relu = True

    def __init__(self, spec: Activation, dtype: str, device: str) -> None:
        super().__init__(spec, dtype, device)
        self.compute = compute_dtype(dtype)
        self.ops = TorchOps(self.compute)
        self.relu = self.native_relu and spec.name == "relu"

    def bound_params(self, s: torch.Tensor | None) -> Any:
        return TensorParams(self.spec, s.detach()) if s is not None else self.spec.p

    def forward(self, x: torch.Tensor, out: Any = None) -> torch.Tensor:
        if self.relu:
            return _ReluFunction.apply(x)
        return _FusedFunction.apply(x, self, self.params.get("s"))

    def describe(self) -> dict[str, Any]:
        if self.relu:
            return {"formulation": "relu; backward: torch's threshold_backward kernel"}
        return {"formulation": self.spec.definition.formulation + "; analytic backward"}


class BranchFreeFusedKernel(FusedKernel):
    """The fused kernel with every activation's own analytic backward, ReLU's included
    (``dy * sign(relu(x))``): what compiled backends trace."""

    native_relu = False


class FusedBackend(TorchBackend):
    name = "torch_fused"
    summary = "torch.autograd.Function, analytic backward, saves only x"

    def build(self, spec: Activation, dtype: str, device: str) -> FusedKernel:
        return FusedKernel(spec, dtype, device)


