"""Measure one case (runs inside a worker process): passes, timing, memory, error.

Passes are made here, from a kernel's forward and backward; backends never handle passes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from gembench.activations.accuracy import max_error, tolerances
from gembench.activations.dtypes import DTYPES
from gembench.activations.reference import reference
from gembench.backends import backend
from gembench.backends.base import Backend, Kernel
from gembench.engine.memory import peak_of, saved_for_backward
from gembench.engine.policy import Timing
from gembench.engine.timing import (
    CpuClock,
    CudaClock,
    cuda_graphed,
    interleaved,
    ratio_summary,
    summarize,
)
from gembench.plan.cases import Case


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
    """The callables of one pass for one kernel: ``run`` is what is timed.

    When a backend's backward cannot be repeated on one graph (``retain_graph`` refused),
    ``run`` is forward+backward and ``subtract`` the forward with autograd: the engine times
    both round by round and records their per-round difference, and ``note`` says so.
    """

    def __init__(self, kern: Kernel, pass_: str, x: Any, dy: Any) -> None:
        self.kern, self.pass_, self.x, self.dy = kern, pass_, x, dy
        self.note = ""
        self.subtract: Callable[[], Any] | None = None
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
                try:
                    self.run()
                    self.run()
                except RuntimeError as exc:
                    self.y = None
                    self.run = lambda: grad(kern.forward(self.xg), self.inputs, dy)
                    self.subtract = lambda: kern.forward(self.xg)
                    first = str(exc).strip().splitlines()[0][:120]
                    self.note = (f"backward cannot be repeated on one graph ({first}); timed as "
                                 "forward+backward minus forward, per round")
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


def _clock(be: Backend, device: str) -> Any:
    """CUDA events (with L2 flush) on CUDA, perf_counter around a synchronised block on CPU."""
    return CudaClock() if device.startswith("cuda") else CpuClock(
        lambda: be.synchronize(device))


def _copy_fn(case: Case) -> Callable[[], Any]:
    """The bandwidth ceiling: a plain copy of a tensor of the case's size into a buffer."""
    torch = _torch()
    from gembench.backends.torch_common import TORCH_DTYPES

    src = torch.randn(case.shape, device=case.device).to(TORCH_DTYPES[case.dtype])
    dst = torch.empty_like(src)
    return lambda: dst.copy_(src)


def _difference(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Per-round ``total - part`` samples (forward+backward minus forward), summarized."""
    diff = [a - b for a, b in zip(total["samples"], part["samples"])]
    return {**summarize(diff), "number": total["number"],
            "derived_from": "forward_backward - forward"}


def _flat(a: Any, n: int) -> Any:
    return a.reshape(-1)[:n]


def _errors(be: Backend, kern: Kernel, case: Case, x: Any, dy: Any, n: int) -> dict[str, Any]:
    """Forward/backward error on the case's own inputs (first ``n`` elements), in eps."""
    d = DTYPES[case.dtype]
    spec = kern.spec
    xs = be.to_numpy(_flat(x, n))
    ref_y, ref_d = reference(spec, xs)
    forward_tol, backward_tol, _note = tolerances(kern, d)  # a declared one for F.* kernels
    out: dict[str, Any] = {"elements": int(xs.size), "forward_tol": forward_tol,
                           "backward_tol": backward_tol}
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


def profile_trace(fn: Callable[[], Any], path: str, device: str, calls: int = 3) -> str:
    """Run ``fn`` a few times under torch.profiler and write a Chrome trace (JSON) to ``path``."""
    torch = _torch()
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        acts.append(ProfilerActivity.CUDA)
    with profile(activities=acts, record_shapes=True) as prof:
        for _ in range(calls):
            fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    prof.export_chrome_trace(path)
    return path


def measure(case: Case, timing: Timing, seed: int = 0,
            profile_dir: str | None = None) -> dict[str, Any]:
    """Measure a case; returns the body of its results record (status, timing, memory, ...)."""
    be = backend(case.backend)
    spec = case.spec
    reason = be.unsupported(spec, case.dtype, case.device) or be.timing_unsupported(case.device)
    if reason:
        raise CaseSkipped(reason)
    _torch().set_num_threads(case.threads)  # the same CPU thread budget for every backend
    be.configure(threads=case.threads)
    be.reset()

    t_build = time.perf_counter()
    kern = be.build(spec, dtype=case.dtype, device=case.device)
    build_s = time.perf_counter() - t_build
    if case.context != "elementwise":
        rec = measure_block(be, kern, case, timing, seed)
    else:
        rec = _measure_elementwise(be, kern, case, timing, seed, build_s)
    run = rec.pop("_run")
    if profile_dir:
        import hashlib
        import os

        os.makedirs(profile_dir, exist_ok=True)
        name = hashlib.sha1(case.case_id.encode()).hexdigest()[:12] + ".json"
        rec["trace"] = profile_trace(run, os.path.join(profile_dir, name), case.device)
    return rec


def _measure_elementwise(be: Backend, kern: Kernel, case: Case, timing: Timing, seed: int,
                         build_s: float) -> dict[str, Any]:
    spec = kern.spec
    x, dy = make_inputs(be, case, seed)
    main = Pass(kern, case.pass_, x, dy)

    t0 = time.perf_counter()
    main.run()
    be.synchronize(case.device)
    first_call = time.perf_counter() - t0

    clock = _clock(be, case.device)
    passes = {"case": main}
    if spec.name != "relu":
        base_kern = be.build(case.baseline().spec, dtype=case.dtype, device=case.device)
        passes["relu"] = Pass(base_kern, case.pass_, x, dy)
    fns: dict[str, Callable[[], Any]] = {k: p.run for k, p in passes.items()}
    fns.update({f"{k}/forward": p.subtract for k, p in passes.items() if p.subtract})
    fns["copy"] = _copy_fn(case)
    graph_note = ""
    if timing.cuda_graphs:
        if case.device.startswith("cuda"):
            fns, graph_note = cuda_graphed(fns)
        else:
            graph_note = "cuda_graphs ignored: not a CUDA device"
    res = interleaved(fns, clock, timing, main="case")
    for k in passes:
        if f"{k}/forward" in res:
            res[k] = _difference(res[k], res.pop(f"{k}/forward"))

    timing_rec = _timing_record(res, clock, timing)
    if graph_note:
        timing_rec["cuda_graphs"] = graph_note
    timing_rec["copy"] = res["copy"]
    timing_rec["ratio_to_copy"] = ratio_summary(res["case"]["samples"], res["copy"]["samples"])

    if case.pass_ == "forward" and kern.supports_out:
        out_buf = be.empty_like(x)
        pre = interleaved({"case": lambda: kern.forward(x, out=out_buf)}, clock,
                          replace(timing, budget_s=timing.budget_s / 2), "case")
        timing_rec["prealloc"] = dict(pre["case"])

    # memory: what a training step keeps for this activation's backward (whatever the timed pass)
    input_bytes = case.numel * DTYPES[case.dtype].itemsize
    mem: dict[str, Any] = {}
    if kern.autograd:
        xg = x.detach().requires_grad_(True)
        mem.update(saved_for_backward(lambda: kern.forward(xg), xg))
    elif kern.saved_for_backward.startswith("x "):
        mem.update({"saved_bytes": input_bytes, "saved_bytes_input_alias": input_bytes,
                    "saved_source": "declared: " + kern.saved_for_backward})
    else:
        mem.update({"saved_bytes": None, "saved_source": kern.saved_for_backward or "unknown"})
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
                              "backend_info": kern.describe(), "pass_note": main.note,
                              "_run": main.run}
    return _accuracy_gate(record, errors)


def measure_block(be: Backend, kern: Kernel, case: Case, timing: Timing,
                  seed: int) -> dict[str, Any]:
    """A block context: the block with this activation, interleaved with the same block (same
    weights) with the backend's ReLU, and the activation alone at the shape it sees inside."""
    from gembench.engine import contexts

    if not kern.autograd:
        raise CaseSkipped(f"{case.backend} cannot sit inside a torch module (no autograd)")
    torch = _torch()
    relu = be.build(case.baseline().spec, dtype=case.dtype, device=case.device)
    block = contexts.build_block(case.context, case.shape, kern, case.dtype, case.device, seed)
    relu_block = contexts.build_block(case.context, case.shape, relu, case.dtype, case.device,
                                      seed)
    in_case = Case(**{**case.to_dict(), "shape": contexts.block_input_shape(case.context,
                                                                              case.shape)})
    x, _ = make_inputs(be, in_case, seed)
    dy = torch.randn_like(x)
    act_case = Case(**{**case.to_dict(), "shape": contexts.activation_shape(case.context,
                                                                              case.shape)})
    ax, ady = make_inputs(be, act_case, seed + 1)
    main = contexts.block_pass(block, case.pass_, x, dy)
    t0 = time.perf_counter()
    main()
    be.synchronize(case.device)
    first_call = time.perf_counter() - t0
    fns = {"case": main}
    if case.activation != "relu":
        fns["relu"] = contexts.block_pass(relu_block, case.pass_, x, dy)
    fns["activation"] = Pass(kern, case.pass_, ax, ady).run
    clock = _clock(be, case.device)
    res = interleaved(fns, clock, timing, main="case")
    rec_t = _timing_record(res, clock, timing)
    share = ratio_summary(res["activation"]["samples"], res["case"]["samples"])
    block_rec = {"median": res["case"]["median"], "activation": res["activation"],
                 "activation_share": share["median"], "activation_share_q": share,
                 "activation_shape": list(act_case.shape)}

    mem: dict[str, Any] = {"input_bytes": act_case.numel * DTYPES[case.dtype].itemsize}
    if case.pass_ == "forward_backward":
        for name, blk in (("", block), ("relu_", relu_block)):
            blk.train()
            xg = x.detach().requires_grad_(True)
            saved = saved_for_backward(lambda blk=blk, xg=xg: blk(xg), xg)
            mem[f"{name}saved_bytes"] = saved["saved_bytes"]
        mem["saved_source"] = "measured (saved_tensors_hooks, unique storages, whole block)"
        mem["saved_ratio"] = mem["saved_bytes"] / mem["input_bytes"]
        mem["saved_vs_relu_block"] = mem["saved_bytes"] / mem["relu_saved_bytes"]
    mem.update(peak_of(main, case.device))
    relu_peak = peak_of(fns.get("relu", main), case.device)["peak_bytes"]
    mem["relu_peak_bytes"] = relu_peak
    if mem.get("peak_bytes") and relu_peak:
        mem["peak_vs_relu_block"] = mem["peak_bytes"] / relu_peak
    errors = _errors(be, kern, act_case, ax, ady, timing.error_elements)
    record: dict[str, Any] = {
        "status": "ok", "reason": None, "timing": rec_t, "block": block_rec, "memory": mem,
        "error": errors, "derived": {"first_call": first_call,
                                     "elements_per_second": act_case.numel / rec_t["median"]},
        "backend_info": kern.describe(), "_run": main,
    }
    return _accuracy_gate(record, errors)


def _timing_record(res: dict[str, Any], clock: Any, timing: Timing) -> dict[str, Any]:
    """The case's timing statistics with its interleaved ReLU baseline and per-round ratios
    (a ReLU case is its own baseline: ratio 1 by definition)."""
    rec: dict[str, Any] = {**res["case"], "clock": clock.name, "warmup": timing.warmup,
                           "stop_reason": res["stop_reason"], "mode": "as_called"}
    if "relu" in res:
        rec["relu"] = res["relu"]
        rec["ratio_to_relu"] = ratio_summary(res["case"]["samples"], res["relu"]["samples"])
    else:
        rec["relu"] = {k: v for k, v in res["case"].items() if k != "samples"}
        rec["ratio_to_relu"] = {"median": 1.0, "q1": 1.0, "q3": 1.0,
                                "count": res["case"]["count"]}
    return rec


def _accuracy_gate(record: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """Fail a case whose numbers are fast but wrong."""
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


def measure_safely(case: Case, timing: Timing, seed: int,
                   profile_dir: str | None = None) -> dict[str, Any]:
    """:func:`measure`, with skips and exceptions turned into records."""
    t0 = time.perf_counter()
    try:
        body = measure(case, timing, seed, profile_dir)
    except CaseSkipped as exc:
        body = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # one failing case never loses the others
        last = traceback.extract_tb(exc.__traceback__)[-1]
        body = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".strip(),
                "where": f"{last.filename}:{last.lineno}"}
    body["duration_s"] = time.perf_counter() - t0
    return body


__all__ = ["CaseSkipped", "measure", "measure_safely", "summarize"]
