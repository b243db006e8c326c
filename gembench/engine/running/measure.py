"""The steps of measuring a case that every context shares, used by
:mod:`gembench.engine.running.group` (which times a comparison group's cases together) and the
crosscheck:
the backend made ready, the clock, the timing record from the rounds, the accuracy gate and the
optional profiler trace. The error is checked before timing and the timed callable again after
it, so a kernel that stops computing while it is timed fails the case.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from gembench.backends import backend
from gembench.backends.base import Backend
from gembench.engine.contexts.subject import CaseSkipped, Subject
from gembench.engine.measuring.timing import CpuClock, CudaClock, Interleaved
from gembench.results.records import Error, Outcome, TimingRecord
from gembench.spec.cases import Case
from gembench.spec.contexts import context_spec
from gembench.spec.policy import Timing


def make_clock(backends: Sequence[Backend], case: Case) -> Any:
    """The clock of the case's device and cache state (cold: a cache flush before each call);
    it waits for the queued work of every backend in ``backends``."""
    cold = case.cache == "cold"
    if case.device.startswith("cuda"):
        return CudaClock(cold=cold)
    flush = None
    if cold:
        from gembench.engine.measuring.cache import CpuFlush

        flush = CpuFlush()
    unique = list({id(b): b for b in backends}.values())

    def sync() -> None:
        for b in unique:
            b.synchronize(case.device)

    return CpuClock(sync, flush)


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


def finish_timing(subject: Subject, res: Interleaved, clock: Any, timing: Timing,
                   note: str) -> TimingRecord:
    """The case's timing record from its view of the rounds (``res``: names as the subject's)."""
    own = subject.stats(res, "case")
    rec = TimingRecord.from_samples(
        own.samples or [], own.number, clock=clock.name, warmup=timing.warmup,
        stop_reason=res.stop_reason, mode="as_called", elapsed_s=res.elapsed_s,
        cuda_graphs=note or None,
        derived_from="forward_backward - forward" if subject.main.subtract else None,
        flush_bytes=clock.flush_bytes, flush_source=clock.flush_source)
    subject.timing_record(res, rec)
    return rec


def ready_backend(case: Case, reset: bool = True) -> Backend:
    """The case's backend, set to the case's thread budget (and reset, unless the caller
    resets it once for a whole group); raises :class:`CaseSkipped` with the reason where the
    case cannot be timed here."""
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
    if reset:
        be.reset()
    return be


def trace_path(profile_dir: str, case: Case) -> str:
    """Where ``--profile`` writes a case's Chrome trace."""
    os.makedirs(profile_dir, exist_ok=True)
    return os.path.join(profile_dir,
                        hashlib.sha1(case.case_id.encode()).hexdigest()[:12] + ".json")


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


__all__ = ["CaseSkipped", "accuracy_gate", "finish_timing", "make_clock", "profile_trace",
           "ready_backend", "trace_path"]
