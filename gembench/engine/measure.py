"""Measure one case (runs inside a worker process): the same steps for every context.

build (the context's subject) -> first call -> error on the case's own inputs -> interleaved
timing (re-timed while the machine is busy, up to ``timing.retry_busy`` times) -> post-timing
recheck of the timed callable's output -> memory -> derived figures. The error is checked
before timing and the timed callable again after it, so a kernel that stops computing while
it is timed fails the case.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from gembench.backends import backend
from gembench.backends.base import Backend
from gembench.engine.busy import BusyMonitor
from gembench.engine.policy import Timing
from gembench.engine.registry import context_spec
from gembench.engine.subject import CaseSkipped, Subject, SubjectArgs
from gembench.engine.timing import CpuClock, CudaClock, Interleaved, cuda_graphed, interleaved
from gembench.plan.cases import Case
from gembench.results.records import Error, Outcome, TimingRecord


def make_clock(be: Backend, case: Case) -> Any:
    """The clock of the case's device and cache state (cold: a cache flush before each call)."""
    cold = case.cache == "cold"
    if case.device.startswith("cuda"):
        return CudaClock(cold=cold)
    flush = None
    if cold:
        from gembench.engine.cache import CpuFlush

        flush = CpuFlush()
    return CpuClock(lambda: be.synchronize(case.device), flush)


def profile_trace(fn: Callable[[], Any], path: str, device: str, calls: int = 3) -> str:
    """Run ``fn`` a few times under torch.profiler and write a Chrome trace (JSON) to ``path``."""
    import torch
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


def timed_rounds(subject: Subject, clock: Any, timing: Timing,
                 case: Case) -> tuple[Interleaved, str]:
    """Interleaved timing of the subject's callables, re-timed while the machine is busy."""
    fns = subject.timed()
    note = ""
    if timing.cuda_graphs:
        if case.device.startswith("cuda"):
            fns, note = cuda_graphed(fns)
        else:
            note = "cuda_graphs ignored: not a CUDA device"
    monitor = BusyMonitor(timing.busy_threshold_cores, case.device)
    res = interleaved(fns, clock, timing, "case", monitor)
    retries = 0
    while res.busy is not None and monitor.is_busy(res.busy) and retries < timing.retry_busy:
        retries += 1
        res = interleaved(fns, clock, timing, "case", monitor)
    if res.busy is not None:
        res.busy.retries = retries
    return res, note


def _timing_record(subject: Subject, res: Interleaved, clock: Any, timing: Timing,
                   note: str) -> TimingRecord:
    own = subject.stats(res, "case")
    rec = TimingRecord.from_samples(
        own.samples or [], own.number, clock=clock.name, warmup=timing.warmup,
        stop_reason=res.stop_reason, mode="as_called", elapsed_s=res.elapsed_s,
        cuda_graphs=note or None,
        derived_from="forward_backward - forward" if subject.main.subtract else None,
        flush_bytes=clock.flush_bytes, flush_source=clock.flush_source)
    subject.timing_record(res, rec)
    return rec


def ready_backend(case: Case) -> Backend:
    """The case's backend, set to the case's thread budget and reset; raises
    :class:`CaseSkipped` with the reason where the case cannot be timed here."""
    be = backend(case.backend)
    ctx = context_spec(case.context)
    if not ctx.allows(case.pass_):
        raise CaseSkipped(f"the {case.context} context times {', '.join(ctx.passes)}, "
                          f"not {case.pass_}")
    reason = (be.unsupported(case.spec, case.dtype, case.device)
              or be.timing_unsupported(case.device))
    if reason:
        raise CaseSkipped(reason)
    import torch

    torch.set_num_threads(case.threads)  # the same CPU thread budget for every backend
    be.configure(threads=case.threads)
    be.reset()
    return be


def measure(case: Case, timing: Timing, seed: int = 0,
            profile_dir: str | None = None) -> Outcome:
    """Measure a case; returns its outcome (status, timing, memory, error, ...)."""
    be = ready_backend(case)
    subject: Subject = context_spec(case.context).subject(SubjectArgs(be, case, timing, seed))
    t0 = time.perf_counter()
    subject.main.run()
    be.synchronize(case.device)
    first_call = time.perf_counter() - t0
    error = subject.error()

    clock = make_clock(be, case)
    res, note = timed_rounds(subject, clock, timing, case)
    rec = _timing_record(subject, res, clock, timing, note)
    subject.extra_timing(clock, rec)
    error.recheck = subject.recheck()

    out = Outcome(status="ok", timing=rec, memory=subject.memory(), error=error,
                  derived=subject.derived(rec, first_call), block=subject.block(res),
                  busy=res.busy, machine_busy=BusyMonitor.is_busy(res.busy) if res.busy else None,
                  backend_info=subject.kern.describe(), pass_note=subject.main.note or None)
    if profile_dir:
        os.makedirs(profile_dir, exist_ok=True)
        name = hashlib.sha1(case.case_id.encode()).hexdigest()[:12] + ".json"
        out.trace = profile_trace(subject.main.run, os.path.join(profile_dir, name), case.device)
    return accuracy_gate(out, error)


def accuracy_gate(out: Outcome, err: Error) -> Outcome:
    """Fail a case whose numbers are fast but wrong (NaN never passes)."""
    problems = []
    for what, eps, tol in (("forward", err.forward_eps, err.forward_tol),
                           ("backward", err.backward_eps, err.backward_tol)):
        if eps is not None and tol is not None and not eps <= tol:
            problems.append(f"{what} error {eps:.3g} eps > {tol}")
    if err.recheck is not None and not err.recheck.ok:
        problems.append(f"recheck after timing: {err.recheck.what} error "
                        f"{err.recheck.eps:.3g} eps > {err.recheck.tol}")
    if problems:
        out.status = "failed"
        out.reason = "inaccurate: " + "; ".join(problems)
    return out


def measure_safely(case: Case, timing: Timing, seed: int,
                   profile_dir: str | None = None) -> Outcome:
    """:func:`measure`, with skips and exceptions turned into outcomes."""
    t0 = time.perf_counter()
    try:
        out = measure(case, timing, seed, profile_dir)
    except CaseSkipped as exc:
        out = Outcome(status="skipped", reason=str(exc))
    except Exception as exc:  # one failing case never loses the others
        last = traceback.extract_tb(exc.__traceback__)[-1]
        out = Outcome(status="failed", reason=f"{type(exc).__name__}: {exc}".strip(),
                      where=f"{last.filename}:{last.lineno}")
    out.duration_s = time.perf_counter() - t0
    return out


__all__ = ["CaseSkipped", "accuracy_gate", "make_clock", "measure", "measure_safely",
           "ready_backend", "timed_rounds"]
