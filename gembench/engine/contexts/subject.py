"""A measurement subject: what one context supplies to the engine's single measurement skeleton.

:func:`gembench.engine.running.measure.measure` runs the same steps for every subject: build (the
subject's constructor), first call, error, interleaved timing, post-timing recheck, memory.
A subject supplies the callables and the figures only it can know.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gembench.activations.accuracy import max_error, tolerances
from gembench.activations.dtypes import DTYPES
from gembench.activations.reference import reference
from gembench.backends.base import Backend, Kernel
from gembench.engine.measuring.passes import TimedPass
from gembench.engine.measuring.timing import Interleaved
from gembench.results.records import (
    Block,
    Derived,
    Error,
    Memory,
    RatioStats,
    Recheck,
    Stats,
    TimingRecord,
)
from gembench.spec.cases import Case, Pass
from gembench.spec.policy import Timing


class CaseSkipped(Exception):
    """The case cannot run here, for a stated reason."""


@dataclass(frozen=True)
class SubjectArgs:
    """What a context's subject builder receives."""

    backend: Backend
    case: Case
    timing: Timing
    seed: int
    #: what the subjects of one comparison group share (inputs, baselines), built once
    memo: dict[Any, Any] | None = None


def make_inputs(be: Backend, case: Case, seed: int,
                shape: tuple[int, ...] | None = None) -> tuple[Any, Any]:
    """x ~ N(0, 1) and dy ~ N(0, 1) of the case's (or ``shape``'s) shape, as native arrays."""
    rng = np.random.default_rng(seed)
    shape = shape or case.shape
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    return be.from_numpy(x, case.dtype, case.device), be.from_numpy(dy, case.dtype, case.device)


def kernel_pass(kern: Kernel, pass_: Pass | str, x: Any, dy: Any) -> TimedPass:
    """The pass of a backend kernel (its learnable parameters get gradients)."""
    return TimedPass(kern.forward, pass_, x, dy, autograd=kern.autograd,
                     params=list(getattr(kern, "params", {}).values()), grads=kern.grads)


def _flat(a: Any, n: int) -> Any:
    return a.reshape(-1)[:n]


class KernelCheck:
    """Errors of a kernel's outputs on given inputs against the float64 reference, in eps."""

    def __init__(self, be: Backend, kern: Kernel, dtype: str, x: Any, dy: Any, n: int) -> None:
        self.be, self.kern, self.d = be, kern, DTYPES[dtype]
        self.x, self.dy, self.n = x, dy, n
        self.xs = be.to_numpy(_flat(x, n))
        self.ref_y, self.ref_d = reference(kern.spec, self.xs)
        self.dys = be.to_numpy(_flat(dy, n))
        # the dtype's tolerance, or the one a kernel gembench does not own declares (F.*)
        self.forward_tol, self.backward_tol, _note = tolerances(kern, self.d)

    def forward_eps(self, y: Any) -> float:
        return max_error(self.be.to_numpy(_flat(y, self.n)), self.ref_y, self.d, self.kern.spec)

    def backward_eps(self, dx: Any) -> float:
        return max_error(self.be.to_numpy(_flat(dx, self.n)), self.dys * self.ref_d, self.d,
                         self.kern.spec)

    def error(self, pass_: Pass) -> Error:
        """Forward and backward called afresh, for the pass's directions; with autograd, a
        forward+backward pass checks the forward it times (in grad mode, the graph a compiled
        kernel already built) rather than compiling a no-grad forward only for the check."""
        err = Error(elements=int(self.xs.size), forward_tol=self.forward_tol,
                    backward_tol=self.backward_tol)
        if self.kern.autograd and pass_.has_forward and pass_.has_backward:
            torch = _torch()
            xg = self.x.detach().requires_grad_(True)
            y = self.kern.forward(xg)
            (dx,) = torch.autograd.grad(y, [xg], self.dy)
            err.forward_eps = self.forward_eps(y.detach())
            err.backward_eps = self.backward_eps(dx)
            return err
        if pass_.has_forward:
            ctx = _torch_no_grad() if self.kern.autograd else None
            if ctx is None:
                y = self.kern.forward(self.x)
            else:
                with ctx:
                    y = self.kern.forward(self.x)
            err.forward_eps = self.forward_eps(y)
        if pass_.has_backward:
            err.backward_eps = self.backward_eps(self.kern.backward(self.x, self.dy))
        return err

    def recheck(self, timed: TimedPass) -> Recheck:
        """Call the timed callable once more and check what it returns (NaN fails)."""
        y, dx = timed.outputs(timed.run())
        checks = []
        if y is not None:
            checks.append(("forward", self.forward_eps(y), self.forward_tol))
        if dx is not None:
            checks.append(("backward", self.backward_eps(dx), self.backward_tol))
        what, eps, tol = max(checks, key=lambda c: np.inf if not c[1] <= c[2] else c[1] / c[2])
        return Recheck(eps=eps, tol=tol, ok=bool(eps <= tol),
                       what=f"{what} output of the timed callable, after timing")


def _torch() -> Any:
    import torch

    return torch


def _torch_no_grad() -> Any:
    return _torch().no_grad()


class Subject:
    """Base of the measurement subjects: ``main`` is the case's pass; ``companions`` are timed
    with it, round by round ("relu", "anchor", "copy", "activation", ...)."""

    main: TimedPass
    kern: Kernel
    check: KernelCheck
    recheck_pass: TimedPass

    def __init__(self, args: SubjectArgs) -> None:
        self.be, self.case, self.timing, self.seed = args.backend, args.case, args.timing, args.seed
        t0 = time.perf_counter()
        self.kern = self.be.build(self.case.spec, dtype=self.case.dtype, device=self.case.device)
        self.build_s = time.perf_counter() - t0
        self.companions: dict[str, TimedPass | Callable[[], Any]] = {}
        #: callable name -> the name it has in the group's rounds, for callables that several
        #: cases of a comparison group share (a backend's ReLU, the anchor, the copy)
        self.shared: dict[str, str] = {}
        self.memo: dict[Any, Any] = {} if args.memo is None else args.memo

    def once(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, made once per comparison group (per subject outside a group)."""
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

    def build_relu(self) -> Kernel | None:
        """The backend's ReLU kernel (None for a ReLU case: it is its own baseline)."""
        if self.case.activation == "relu":
            return None
        return self.once(("relu_kernel", self.be.name), lambda: self.be.build(
            self.case.baseline().spec, dtype=self.case.dtype, device=self.case.device))

    def share(self, name: str, key: str, build: Callable[[], Any]) -> None:
        """Add the companion ``name``, shared in a group as ``key`` (built once)."""
        self.companions[name] = self.once(("companion", key), build)
        self.shared[name] = key

    def group_names(self) -> dict[str, str]:
        """Each of :meth:`timed`'s names -> its name in the group's rounds (the case id for
        what only this case times)."""
        own = self.case.case_id
        names = {}
        for name in self.timed():
            base, _, sub = name.partition("/")
            key = self.shared.get(base) or (own if base == "case" else f"{own}:{base}")
            names[name] = f"{key}/{sub}" if sub else key
        return names

    def baselines(self) -> list[str]:
        """The names this case's ratios divide by (its busy figure covers them too)."""
        return [n for n in ("relu", "anchor", "copy") if n in self.companions]

    def timed(self) -> dict[str, Callable[[], Any]]:
        """Every callable of the rounds, ``case`` first (and ``NAME/forward`` for passes timed
        as forward+backward minus forward)."""
        passes: dict[str, Any] = {"case": self.main, **self.companions}
        fns = {k: p.run if isinstance(p, TimedPass) else p for k, p in passes.items()}
        fns.update({f"{k}/forward": p.subtract for k, p in passes.items()
                    if isinstance(p, TimedPass) and p.subtract})
        return fns

    def stats(self, res: Interleaved, name: str) -> Stats:
        """A callable's statistics (forward+backward minus forward where it was so timed)."""
        if f"{name}/forward" in res:
            return Stats.from_samples(res.difference(name, f"{name}/forward"),
                                      res.numbers[name])
        return res.stats(name)

    def samples(self, res: Interleaved, name: str) -> list[float]:
        s = self.stats(res, name).samples
        return s or []

    def ratio(self, res: Interleaved, num: str, den: str) -> RatioStats:
        return RatioStats.per_round(self.samples(res, num), self.samples(res, den))

    def timing_record(self, res: Interleaved, rec: TimingRecord) -> None:
        """Fill in the subject's part of the timing record (``rec`` holds the case's own)."""
        if "relu" in res:
            rec.relu = self.stats(res, "relu")
            rec.ratio_to_relu = self.ratio(res, "case", "relu")
        else:
            rec.relu = rec.stats()
            rec.ratio_to_relu = RatioStats.identity(rec.count or 0)

    def error(self) -> Error:
        return self.check.error(self.case.pass_kind)

    def recheck(self) -> Recheck:
        return self.check.recheck(self.recheck_pass)

    def memory(self) -> Memory:
        raise NotImplementedError

    def derived(self, rec: TimingRecord, first_call: float) -> Derived:
        raise NotImplementedError

    def block(self, res: Interleaved) -> Block | None:
        return None


__all__ = ["CaseSkipped", "KernelCheck", "Subject", "SubjectArgs", "kernel_pass",
           "make_inputs"]
