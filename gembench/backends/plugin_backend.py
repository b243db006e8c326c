"""A registered implementation (:mod:`gembench.backends.plugins`) as a backend: torch tensors in
and out, the activations it implements, and ReLU for its baseline.

An implementation that does not implement ``relu`` is timed against ``torch_eager``'s ReLU
(``torch.nn.functional.relu``): its "× ReLU, same backend" figure is then "× eager ReLU", and
its ``relu`` rows are that kernel. Cases of other activations it does not implement are skipped
with that reason.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch

from gembench.activations.catalog import Activation
from gembench.backends.base import Availability, Kernel
from gembench.backends.plugins import Implementation, worker_plugins
from gembench.backends.torch_common import TorchBackend
from gembench.backends.torch_eager import AutogradKernel, EagerBackend

#: the ReLU baseline of an implementation without relu: torch eager's
_BASELINE = EagerBackend()


class PluginOutputError(ValueError):
    """A plugin's kernel returned something other than a tensor like its input."""


def checked(name: str, what: str, x: torch.Tensor, y: Any) -> Any:
    """``y`` when it is a tensor of ``x``'s shape, dtype and device; else a
    :class:`PluginOutputError` naming the plugin (its case fails with that reason: a float64
    result of a float32 case is never timed as if it were float32)."""
    if not isinstance(y, torch.Tensor):
        raise PluginOutputError(f"{name}: {what} returned {type(y).__name__}, not a tensor")
    if y.dtype != x.dtype or y.shape != x.shape or y.device != x.device:
        raise PluginOutputError(
            f"{name}: {what} returned {str(y.dtype).removeprefix('torch.')} "
            f"{tuple(y.shape)} on {y.device} for a {str(x.dtype).removeprefix('torch.')} "
            f"{tuple(x.shape)} input on {x.device}")
    return y


def checked_kernel(cls: type[Kernel], name: str) -> type[Kernel]:
    """A plugin's Kernel subclass whose forward output and input gradient are checked
    (:func:`checked`)."""

    def forward(self: Kernel, x: Any, *args: Any, **kwargs: Any) -> Any:
        return checked(name, "forward", x, cls.forward(self, x, *args, **kwargs))

    def grads(self: Kernel, x: Any, dy: Any, *args: Any, **kwargs: Any) -> Any:
        dx, params = cls.grads(self, x, dy, *args, **kwargs)
        return checked(name, "backward", x, dx), params

    return type(cls.__name__, (cls,), {"forward": forward, "grads": grads,
                                       "__module__": cls.__module__,
                                       "__doc__": cls.__doc__})


class _UserBackward(torch.autograd.Function):
    """Forward and backward given by the user as two functions; saves what they declared."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kern: FunctionKernel) -> torch.Tensor:
        y = checked(kern.impl.name, "forward", x, kern.impl.forward(x, **kern.spec.params))
        keep = {"x": {"x": x}, "y": {"y": y}, "x_and_y": {"x": x, "y": y}}.get(
            kern.saves.what, {})
        ctx.save_for_backward(*keep.values())
        ctx.names, ctx.kern = tuple(keep), kern
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        saved = dict(zip(ctx.names, ctx.saved_tensors))
        kern = ctx.kern
        dx = kern.impl.backward(dy, **saved, **kern.spec.params)
        return checked(kern.impl.name, "backward", dy, dx), None


class FunctionKernel(AutogradKernel):
    """A user's function as a kernel; a learnable parameter reaches it as an nn.Parameter."""

    def __init__(self, impl: Implementation, spec: Activation, dtype: str, device: str) -> None:
        super().__init__(spec, dtype, device)
        self.impl = impl
        self.saves = impl.saves

    def forward(self, x: torch.Tensor, out: Any = None) -> torch.Tensor:
        if not self.impl.autograd:
            return _UserBackward.apply(x, self)
        return checked(self.impl.name, "forward", x,
                       self.impl.forward(x, **{**self.spec.params, **self.params}))

    def describe(self) -> dict[str, Any]:
        return {"implementation": self.impl.name, "source": self.impl.source,
                "saves_declared": str(self.saves)}


class PluginBackend(TorchBackend):
    """One registered implementation, runnable like a backend."""

    def __init__(self, impl: Implementation) -> None:
        self.impl = impl
        self.name = impl.name
        self.dtypes = impl.dtypes
        self.devices = impl.devices
        source = impl.source
        if os.path.isabs(source) and Path(source).is_relative_to(Path.cwd()):
            source = os.path.relpath(source)
        self.summary = "; ".join(filter(None, [
            f"implements {', '.join(impl.activations)}", impl.summary,
            f"autograd: {'yes' if impl.autograd else 'no (own backward)'}",
            f"saves {impl.saves.what}", f"from {impl.origin} {source}".rstrip()]))

    def availability(self) -> Availability:
        missing = [m for m in self.impl.requires if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"needs {', '.join(missing)}, not installed here")
        return Availability(True)

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        if spec.name not in self.impl.activations and spec.name != "relu":
            return (f"{self.name} implements {', '.join(self.impl.activations)}, "
                    f"not {spec.name}")
        return super().unsupported(spec, dtype, device)

    def build(self, spec: Activation, dtype: str, device: str) -> Kernel:
        if spec.name not in self.impl.activations:
            if spec.name != "relu":
                raise ValueError(self.unsupported(spec, dtype, device))
            return _BASELINE.build(spec, dtype, device)
        if self.impl.kernel is not None:
            kern = checked_kernel(self.impl.kernel, self.name)(spec, dtype, device)
            if self.impl.saves.what != "unknown":
                kern.saves = self.impl.saves
            return kern
        return FunctionKernel(self.impl, spec, dtype, device)

    def worker_env(self, device: str, run_dir: str) -> dict[str, str]:
        plugins = worker_plugins(self.impl)
        return {} if plugins is None else {"GEMBENCH_PLUGINS": plugins}
