"""Measure one case (runs inside a worker process): passes, timing, memory, error.

Passes are made here, from a kernel's forward and backward; backends never handle passes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from .accuracy import max_error
from .backends import backend
from .backends.base import Backend, Kernel
from .cases import Case
from .dtypes import DTYPES
from .memory import peak_of, saved_for_backward
from .reference import reference
from .suite import Timing
from .timing import CpuClock, CudaClock, interleaved, ratio_summary, summarize


class CaseSkipped(Exception):
    """The case cannot run here, for a stated reason."""


def _torch() -> Any:
    import torch

    return torch


def make_inputs(be: Backend, case: Case, seed: int) -> tuple[Any, Any]:
    """x ~ N(0, 1) and dy ~ N(0, 1) of the case's shape, as the backend's native arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.shape, dtype=np.float32)
    dy = rng.standard_normal(case.shape, dtype=np.float32)
    return be.from_numpy(x, case.dtype, case.device), be.from_numpy(dy, case.dtype, case.device)


class Pass:
    """The callables of one pass for one kernel: ``run`` is what is timed."""

    def __init__(self, kern: Kernel, pass_: str, x: Any, dy: Any) -> None:
        self.kern, self.pass_, self.x, self.dy = kern, pass_, x, dy
        self.note = ""
        if kern.autograd:
            torch = _torch()
            self.xg = x.detach().requires_grad_(True)
            self.inputs = [self.xg, *getattr(kern, "params", {}).values()]
            grad = torch.autograd.grad
            if pass_ == "forward":
                self.run = self._no_grad_forward
            elif pass_ == "forward_backward":
                self.run = lambda: grad(kern.forward(self.xg), self.inputs, dy)
            else:
                self.y = kern.forward(self.xg)
                self.run = lambda: grad(self.y, self.inputs, dy, retain_graph=True)
        else:
            if pass_ == "forward":
                self.run = lambda: kern.forward(x)
            elif pass_ == "forward_backward":
                self.run = lambda: (kern.forward(x), kern.grads(x, dy))
            else:
                self.run = lambda: kern.grads(x, dy)

    def _no_grad_forward(self) -> Any:
        with _torch().no_grad():
            return self.kern.forward(self.x)


def _copy_fn(case: Case) -> Callable[[], Any]:
    """The bandwidth ceiling: a plain copy of a tensor of the case's size into a buffer."""
    torch = _torch()
    from .backends.torch_common import TORCH_DTYPES

    src = torch.randn(case.shape, device=case.device).to(TORCH_DTYPES[case.dtype])
    dst = torch.empty_like(src)
    return lambda: dst.copy_(src)


def _flat(a: Any, n: int) -> Any:
    return a.reshape(-1)[:n]


def _errors(be: Backend, kern: Kernel, case: Case, x: Any, dy: Any, n: int) -> dict[str, Any]:
    """Forward/backward error on the case's own inputs (first ``n`` elements), in eps."""
    d = DTYPES[case.dtype]
    spec = kern.spec
    xs = be.to_numpy(_flat(x, n))
    ref_y, ref_d = reference(spec, xs)
    out: dict[str, Any] = {"elements": int(xs.size), "forward_tol": d.forward_tol,
                           "backward_tol": d.backward_tol}
    if case.pass_ in ("forward", "forward_backward"):
        ctx = _torch().no_grad() if kern.autograd else _nullctx()
        with ctx:
            y = kern.forward(x)
        out["forward_eps"] = max_error(be.to_numpy(_flat(y, n)), ref_y, d, spec)
    if case.pass_ in ("backward", "forward_backward"):
        dx = kern.backward(x, dy)
        dys = be.to_numpy(_flat(dy, n))
        out["backward_eps"] = max_error(be.to_numpy(_flat(dx, n)), dys * ref_d, d, spec)
    return out


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def measure(case: Case, timing: Timing, seed: int = 0) -> dict[str, Any]:
    """Measure a case; returns the body of its results record (status, timing, memory, ...)."""
    be = backend(case.backend)
    spec = case.spec
    reason = be.unsupported(spec, case.dtype, case.device) or be.timing_unsupported(case.device)
    if reason:
        raise CaseSkipped(reason)
    if case.device == "cpu" or case.device.startswith("cuda"):
        _torch().set_num_threads(case.threads)
    be.configure(threads=case.threads)
    be.reset()

    t_build = time.perf_counter()
    kern = be.build(spec, dtype=case.dtype, device=case.device)
    build_s = time.perf_counter() - t_build
    x, dy = make_inputs(be, case, seed)
    main = Pass(kern, case.pass_, x, dy)

    t0 = time.perf_counter()
    main.run()
    be.synchronize(case.device)
    first_call = time.perf_counter() - t0

    clock: Any = CudaClock() if case.device.startswith("cuda") else CpuClock(
        lambda: be.synchronize(case.device))
    fns: dict[str, Callable[[], Any]] = {"case": main.run}
    if spec.name != "relu":
        base_kern = be.build(case.baseline().spec, dtype=case.dtype, device=case.device)
        fns["relu"] = Pass(base_kern, case.pass_, x, dy).run
    fns["copy"] = _copy_fn(case)
    res = interleaved(fns, clock, timing, main="case")

    timing_rec: dict[str, Any] = {**res["case"], "clock": clock.name, "warmup": timing.warmup,
                                  "stop_reason": res["stop_reason"], "mode": "as_called"}
    timing_rec["copy"] = res["copy"]
    if "relu" in res:
        timing_rec["relu"] = res["relu"]
        timing_rec["ratio_to_relu"] = ratio_summary(res["case"]["samples"], res["relu"]["samples"])
    else:
        timing_rec["relu"] = {k: v for k, v in res["case"].items() if k != "samples"}
        timing_rec["ratio_to_relu"] = {"median": 1.0, "q1": 1.0, "q3": 1.0,
                                       "count": res["case"]["count"]}
    timing_rec["ratio_to_copy"] = ratio_summary(res["case"]["samples"], res["copy"]["samples"])

    if case.pass_ == "forward" and kern.supports_out:
        out_buf = be.empty_like(x)
        pre = interleaved({"case": lambda: kern.forward(x, out=out_buf)}, clock,
                          Timing(**{**timing.__dict__, "budget_s": timing.budget_s / 2}), "case")
        timing_rec["prealloc"] = {k: v for k, v in pre["case"].items()}

    # memory
    mem: dict[str, Any] = {}
    if kern.autograd and case.pass_ != "forward":
        xg = x.detach().requires_grad_(True)
        mem.update(saved_for_backward(lambda: kern.forward(xg), xg))
    elif case.pass_ != "forward":
        mem.update({"saved_bytes": None, "saved_source": kern.saved_for_backward or "unknown"})
    input_bytes = case.numel * DTYPES[case.dtype].itemsize
    mem["input_bytes"] = input_bytes
    if mem.get("saved_bytes") is not None:
        mem["saved_ratio"] = mem["saved_bytes"] / input_bytes
    mem.update(peak_of(main.run, case.device))

    errors = _errors(be, kern, case, x, dy, timing.error_elements)

    # derived figures
    med = timing_rec["median"]
    itemsize = DTYPES[case.dtype].itemsize
    nbytes = spec.bytes_per_element(itemsize, case.pass_) * case.numel
    copy_bw = 2 * case.numel * itemsize / res["copy"]["median"]
    derived = {
        "bytes_moved": nbytes,
        "bandwidth": nbytes / med,
        "copy_bandwidth": copy_bw,
        "bandwidth_fraction": (nbytes / med) / copy_bw,
        "elements_per_second": case.numel / med,
        "first_call": first_call,
        "build_time": build_s,
    }
    if be.compiles:
        derived["compile_time"] = max(0.0, first_call - med)

    record: dict[str, Any] = {"status": "ok", "reason": None, "timing": timing_rec,
                              "memory": mem, "error": errors, "derived": derived,
                              "backend_info": kern.describe(), "pass_note": main.note}
    problems = []
    if errors.get("forward_eps", 0.0) > errors["forward_tol"]:
        problems.append(f"forward error {errors['forward_eps']:.3g} eps > {errors['forward_tol']}")
    if errors.get("backward_eps", 0.0) > errors["backward_tol"]:
        problems.append(
            f"backward error {errors['backward_eps']:.3g} eps > {errors['backward_tol']}")
    if problems:
        record["status"] = "failed"
        record["reason"] = "inaccurate: " + "; ".join(problems)
    return record


def measure_safely(case: Case, timing: Timing, seed: int) -> dict[str, Any]:
    """:func:`measure`, with skips and exceptions turned into records."""
    t0 = time.perf_counter()
    try:
        body = measure(case, timing, seed)
    except CaseSkipped as exc:
        body = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # one failing case never loses the others
        last = traceback.extract_tb(exc.__traceback__)[-1]
        body = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".strip(),
                "where": f"{last.filename}:{last.lineno}"}
    body["duration_s"] = time.perf_counter() - t0
    return body


__all__ = ["CaseSkipped", "measure", "measure_safely", "summarize"]
