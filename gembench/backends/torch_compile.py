"""``torch_compile`` and ``torch_compile_fused``: the torch kernels under ``torch.compile``.

- ``torch_compile``: the ``torch_eager`` forward (``torch.nn.functional`` for baselines, the
  catalog formula otherwise) compiled by inductor; the backward comes from AOTAutograd, which
  also decides (min-cut partitioner) what the forward saves for it.
- ``torch_compile_fused``: the ``torch_fused`` ``torch.autograd.Function`` (analytic backward)
  compiled by inductor. AOTAutograd traces its forward and backward into one joint graph and
  re-partitions it: what is saved is x or less (relu keeps a bool mask), never an intermediate.

Both compile with ``fullgraph=True`` (a graph break is an error, never a silent split) and
``dynamic=False`` (static shapes), in the default mode. The first call of a kernel compiles, so
the engine sees compile cost as first-call minus steady-state time; the kernel also records the
first call's seconds itself (:meth:`CompileKernel.describe`).

One kernel holds one compiled function per autograd situation it is called in (grad mode,
inference mode, whether x requires grad): plain forward and forward-for-backward are different
graphs, as they are for any ``torch.compile`` user. Each of these functions is a fresh copy with
its own code object, so dynamo's cache (keyed on the code object) holds exactly that kernel's
graph for that situation and nothing is shared between kernels beyond inductor's own caches.

Recompiles are errors. Past its recompile limit dynamo runs the frame eagerly, and a case would
then time eager code as "compiled". After every call the kernel checks dynamo's cache entries
for the function it called: exactly one, holding the code compiled by its first call. Anything
else (a guard failed on a new dtype, shape or stride and dynamo compiled again; the dynamo cache
was reset and the function compiled afresh) raises ``RuntimeError("recompiled: ...")`` with the
failed guards, and so do dynamo's own recompile-limit errors.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch._dynamo
from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list
from torch._dynamo import exc as _dynamo_exc

from gembench.activations.catalog import Activation
from gembench.backends.base import Availability, Kernel
from gembench.backends.torch_common import TorchBackend
from gembench.backends.torch_eager import AutogradKernel, EagerKernel
from gembench.backends.torch_fused import BranchFreeFusedKernel

# Dynamo's own refusals to recompile (error_on_recompile; recompile limit hit under fullgraph).
_REFUSED: tuple[type[BaseException], ...] = tuple(
    getattr(_dynamo_exc, n) for n in ("RecompileError", "FailOnRecompileLimitHit")
    if hasattr(_dynamo_exc, n)
)

MODE = "default"
COMPILE_OPTIONS: dict[str, Any] = {"fullgraph": True, "dynamic": False, "backend": "inductor"}


def reset() -> None:
    """Drop everything dynamo has compiled, cached and counted, so a case starts clean.

    Kernels built before the reset recompile on their next call (and so raise "recompiled").
    """
    torch._dynamo.reset()


def _entry(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., Any]:
    def compiled_forward(x: torch.Tensor) -> torch.Tensor:
        return forward(x)

    return compiled_forward


def _fresh_function(fn: types.FunctionType, name: str) -> types.FunctionType:
    """A copy of ``fn`` with its own code object (dynamo caches compiled code per code object)."""
    changes: dict[str, Any] = {"co_name": name}
    if hasattr(fn.__code__, "co_qualname"):  # Python 3.11+
        changes["co_qualname"] = name
    code = fn.__code__.replace(**changes)
    return types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)


def _graph_name(key: tuple[bool, bool, bool]) -> str:
    grad, inference, x_grad = key
    if inference:
        mode = "inference_mode"
    elif grad:
        return "training" if x_grad else "forward"
    else:
        mode = "no_grad"
    return f"{mode}, x.requires_grad" if x_grad else mode


def _graph_breaks() -> int:
    return sum(torch._dynamo.utils.counters["graph_break"].values())


@dataclass
class _Graph:
    """One compiled function of a kernel (one autograd situation)."""

    name: str
    fn: types.FunctionType
    compiled: Callable[..., Any]
    first_call_s: float | None = None
    code: Any = None  # the bytecode dynamo produced on the first call
    guards: Any = None  # its guard manager, to explain a recompile
    seen: list[Any] = field(default_factory=list)  # every compiled bytecode seen since


class CompileKernel(AutogradKernel):
    """An autograd kernel whose forward runs under ``torch.compile``."""

    autograd = True

    def __init__(self, inner: AutogradKernel, backend_name: str) -> None:
        super().__init__(inner.spec, inner.dtype, inner.device)
        self.inner = inner
        self.backend_name = backend_name
        self.params = inner.params  # grads() differentiates w.r.t. what the compiled code reads
        self.domain, self.domain_note = inner.domain, inner.domain_note
        self.tolerance = getattr(inner, "tolerance", {})
        self.tolerance_note = getattr(inner, "tolerance_note", "")
        self._graphs: dict[tuple[bool, bool, bool], _Graph] = {}
        self.first_call_s: float | None = None
        self.recompiles = 0
        self.graph_breaks = 0

    # ---- calls
    def forward(self, x: torch.Tensor, out: Any = None) -> torch.Tensor:
        key = (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), x.requires_grad)
        graph = self._graphs.get(key)
        if graph is None or graph.code is None:
            return self._first_call(key, x)
        try:
            y = graph.compiled(x)
        except _REFUSED as exc:
            self.recompiles += 1
            raise self._recompiled(graph, x, f"dynamo refused to recompile: {exc}") from exc
        entries = _debug_get_cache_entry_list(graph.fn.__code__)
        if len(entries) != 1 or entries[0].code is not graph.code:
            self._count_new_code(graph, entries)
            raise self._recompiled(graph, x, self._guard_failures(graph, x))
        return y

    def _first_call(self, key: tuple[bool, bool, bool], x: torch.Tensor) -> torch.Tensor:
        name = _graph_name(key)
        graph = self._graphs.get(key)
        if graph is None:
            label = f"{self.backend_name}_{self.spec.label}_{self.dtype}_{name}"
            fn = _fresh_function(_entry(self.inner.forward), re.sub(r"\W+", "_", label).strip("_"))
            graph = _Graph(name, fn, torch.compile(fn, mode=None, **COMPILE_OPTIONS))
            self._graphs[key] = graph
        breaks = _graph_breaks()
        start = time.perf_counter()
        y = graph.compiled(x)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - start
        self.graph_breaks += _graph_breaks() - breaks
        entries = _debug_get_cache_entry_list(graph.fn.__code__)
        if len(entries) != 1:
            raise RuntimeError(
                f"not compiled: {self.backend_name} {self.spec.label} {self.dtype} "
                f"({name} graph): dynamo holds {len(entries)} compiled entries after the first "
                "call, expected 1 (is torch.compile disabled, e.g. TORCHDYNAMO_DISABLE=1 or "
                "torch.compiler.set_stance('force_eager')?)"
            )
        graph.code, graph.guards = entries[0].code, getattr(entries[0], "guard_manager", None)
        graph.seen.append(graph.code)
        graph.first_call_s = seconds
        if self.first_call_s is None:
            self.first_call_s = seconds
        return y

    # ---- recompiles
    def _count_new_code(self, graph: _Graph, entries: list[Any]) -> None:
        for entry in entries:
            if not any(entry.code is c for c in graph.seen):
                graph.seen.append(entry.code)
                self.recompiles += 1

    def _guard_failures(self, graph: _Graph, x: torch.Tensor) -> str:
        fn = graph.fn
        frame_locals = {"x": x}
        frame_locals.update(
            zip(fn.__code__.co_freevars, [c.cell_contents for c in fn.__closure__ or ()],
                strict=True)
        )
        try:
            verdict = graph.guards.check_verbose(frame_locals)
        except Exception as exc:  # guard introspection is dynamo-internal: never mask the error
            return f"guard check unavailable ({type(exc).__name__}: {exc})"
        if not verdict.result:
            return "guard failed: " + "; ".join(verdict.verbose_code_parts)
        return (
            "its first guards still pass, so dynamo's cache was reset since the first compile "
            "(torch._dynamo.reset(), e.g. another kernel was built) and it compiled again"
        )

    def _recompiled(self, graph: _Graph, x: torch.Tensor, why: str) -> RuntimeError:
        return RuntimeError(
            f"recompiled: {self.backend_name} {self.spec.label} {self.dtype} ({graph.name} graph) "
            f"called with {str(x.dtype).removeprefix('torch.')}{list(x.shape)} on {x.device}: "
            f"{why}. A kernel compiles once per autograd situation (static shapes); past the "
            "recompile limit dynamo would run eager code and time it as compiled."
        )

    # ---- facts
    def describe(self) -> dict[str, Any]:
        import torch._inductor.config as inductor_config

        on_cpu = torch.device(self.device).type == "cpu"
        return {
            "formulation": self.inner.describe().get("formulation", ""),
            "compile_first_call_s": self.first_call_s,
            "first_call_s_by_graph": {g.name: g.first_call_s for g in self._graphs.values()},
            "recompiles": self.recompiles,
            "graph_breaks": self.graph_breaks,
            "mode": MODE,
            "fullgraph": COMPILE_OPTIONS["fullgraph"],
            "dynamic": COMPILE_OPTIONS["dynamic"],
            "inductor_backend": (
                inductor_config.cpu_backend if on_cpu else inductor_config.cuda_backend
            ),
        }


class _CompileBackendBase(TorchBackend):
    compiles = True
    _inner: type[AutogradKernel] = EagerKernel

    def worker_env(self, device: str, run_dir: str) -> dict[str, str]:
        # A fresh cache per run, and no FX-graph / AOTAutograd cache hits: identical graphs
        # (torch_compile vs torch_compile_fused forward, repeated cases) would otherwise load a
        # cached artefact and report almost no compile time.
        return {
            "TORCHINDUCTOR_CACHE_DIR": f"{run_dir}/inductor-cache",
            "TRITON_CACHE_DIR": f"{run_dir}/triton-cache",
            "TORCHINDUCTOR_FX_GRAPH_CACHE": "0",
            "TORCHINDUCTOR_AUTOGRAD_CACHE": "0",
        }

    def availability(self) -> Availability:
        try:
            torch._dynamo.eval_frame.check_if_dynamo_supported()
        except Exception as exc:
            return Availability(False, f"torch.compile unsupported here: {exc}")
        return super().availability()

    def device_unavailable(self, device: str) -> str | None:
        reason = super().device_unavailable(device)
        if reason is not None:
            return reason
        kind = torch.device(device).type
        if kind not in _COMPILER_PROBLEM:
            _COMPILER_PROBLEM[kind] = _compiler_problem(kind)
        return _COMPILER_PROBLEM[kind]

    def reset(self) -> None:
        """The engine calls this before each case builds its kernels (the case's and its ReLU
        baseline's, which must coexist)."""
        reset()

    def build(self, spec: Activation, dtype: str, device: str) -> Kernel:
        inner = BASELINE_INNER.get(spec.name, self._inner)
        return CompileKernel(inner(spec, dtype, device), self.name)


_COMPILER_PROBLEM: dict[str, str | None] = {}  # device type -> why inductor cannot compile


def _compiler_problem(kind: str) -> str | None:
    """Why inductor cannot generate code for this device type here, or None."""
    try:
        if kind == "cpu":
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        elif kind == "cuda":
            from torch.utils._triton import has_triton

            if not has_triton():
                return "inductor needs triton for CUDA and it is not installed"
    except Exception as exc:
        return f"inductor cannot compile for {kind}: {exc}"
    return None


#: the baseline's fastest correct form under torch.compile: inductor's own ReLU backward
#: (``threshold_backward``) selects on a bool mask, which costs 10-16x eager ReLU forward+
#: backward on the project's CPU build; the autograd.Function with the branch-free derivative
#: ``sign(relu(x))`` does not, so every compiled "x ReLU" divides by a ReLU at its best.
BASELINE_INNER: dict[str, type[AutogradKernel]] = {"relu": BranchFreeFusedKernel}


class CompileBackend(_CompileBackendBase):
    name = "torch_compile"
    summary = (
        "torch_eager forward (torch.nn.functional for baselines) under torch.compile "
        "(inductor, fullgraph, static shapes); backward from AOTAutograd"
    )
    _inner = EagerKernel


class CompileFusedBackend(_CompileBackendBase):
    name = "torch_compile_fused"
    summary = (
        "torch_fused autograd.Function (analytic backward) under torch.compile; AOTAutograd "
        "re-partitions it and saves x or less"
    )
    _inner = BranchFreeFusedKernel
