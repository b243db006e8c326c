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
from gembench.backends.torch_eager import AutogradKernel

#: where the ReLU baseline of an implementation without relu comes from
BASELINE_BACKEND = "torch_eager"


class _UserBackward(torch.autograd.Function):
    """Forward and backward given by the user as two functions; saves what they declared."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kern: FunctionKernel) -> torch.Tensor:
        y = kern.impl.forward(x, **kern.spec.params)
        keep = {"x": {"x": x}, "y": {"y": y}, "x_and_y": {"x": x, "y": y}}.get(
            kern.saves.what, {})
        ctx.save_for_backward(*keep.values())
        ctx.names, ctx.kern = tuple(keep), kern
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> Any:
        saved = dict(zip(ctx.names, ctx.saved_tensors))
        kern = ctx.kern
        return kern.impl.backward(dy, **saved, **kern.spec.params), None


class FunctionKernel(AutogradKernel):
    """A user's function as a kernel; a learnable parameter reaches it as an nn.Parameter."""

    def __init__(self, impl: Implementation, spec: Activation, dtype: str, device: str) -> None:
        super().__init__(spec, dtype, device)
        self.impl = impl
        self.saves = impl.saves

    def forward(self, x: torch.Tensor, out: Any = None) -> torch.Tensor:
        if not self.impl.autograd:
            return _UserBackward.apply(x, self)
        return self.impl.forward(x, **{**self.spec.params, **self.params})

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
            from gembench.backends import backend

            return backend(BASELINE_BACKEND).build(spec, dtype, device)
        if self.impl.kernel is not None:
            kern = self.impl.kernel(spec, dtype, device)
            if self.impl.saves.what != "unknown":
                kern.saves = self.impl.saves
            return kern
        return FunctionKernel(self.impl, spec, dtype, device)

    def worker_env(self, device: str, run_dir: str) -> dict[str, str]:
        plugins = worker_plugins(self.impl)
        return {} if plugins is None else {"GEMBENCH_PLUGINS": plugins}
