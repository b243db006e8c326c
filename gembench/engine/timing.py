"""Timing: warm-up, then interleaved rounds of samples until a budget or a precision target.

Like torch.utils.benchmark's adaptive autorange, each sample times a block of ``number`` calls
(enough to rise above the clock's resolution) and sampling stops once the spread is small or
the budget is spent, but never before ``min_samples``. Unlike it, several callables (the case,
its ReLU baseline, the copy ceiling) are timed round by round in rotating order, so that a
shared machine's drift hits all of them alike and per-round ratios cancel it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gembench.engine.policy import Timing


class CpuClock:
    """Wall-clock timing with ``perf_counter``; ``sync`` waits for queued device work."""

    name = "perf_counter"

    def __init__(self, sync: Callable[[], None] = lambda: None) -> None:
        self.sync = sync

    def prepare(self) -> None:
        """Called before each sample, outside the timed region."""

    def time_block(self, fn: Callable[[], Any], number: int) -> float:
        self.sync()
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        self.sync()
        return (time.perf_counter() - t0) / number


class CudaClock:
    """CUDA events around the block, after flushing the L2 cache (sized from the device)."""

    name = "cuda_events"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        l2 = getattr(props, "L2_cache_size", 0) or 64 * 1024**2
        self.flush_buffer = torch.empty(2 * l2, dtype=torch.int8, device="cuda")
        self.flush_bytes = 2 * l2

    def sync(self) -> None:
        self.torch.cuda.synchronize()

    def prepare(self) -> None:
        self.flush_buffer.zero_()

    def time_block(self, fn: Callable[[], Any], number: int) -> float:
        start = self.torch.cuda.Event(enable_timing=True)
        end = self.torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / number


def summarize(samples: list[float]) -> dict[str, Any]:
    """Median, IQR, min, mean, count and the raw samples (seconds per call)."""
    a = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "min": float(a.min()), "mean": float(a.mean()), "count": int(a.size),
            "samples": [float(s) for s in a]}


def calibrate(fn: Callable[[], Any], clock: Any, timing: Timing) -> int:
    """Calls per sample so that one sample lasts at least ``timing.min_sample_time_s``."""
    clock.prepare()
    t1 = min(clock.time_block(fn, 1) for _ in range(3))
    if isinstance(clock, CudaClock):
        return 1  # each call after an L2 flush, as triton.testing.do_bench does
    return max(1, math.ceil(timing.min_sample_time_s / max(t1, 1e-9)))


def interleaved(fns: dict[str, Callable[[], Any]], clock: Any, timing: Timing,
                main: str) -> dict[str, Any]:
    """Time every callable round by round; return their summaries and per-round ratios.

    Stops when ``main`` has at least ``min_samples`` samples and either its relative IQR is
    below ``target_precision`` or the budget is spent; or at ``max_samples``.
    """
    for fn in fns.values():
        for _ in range(timing.warmup):
            fn()
    clock.sync()
    numbers = {k: calibrate(fn, clock, timing) for k, fn in fns.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    t_start = time.perf_counter()
    stop_reason = "max_samples"
    for r in range(timing.max_samples):
        order = names[r % len(names):] + names[: r % len(names)]
        for k in order:
            clock.prepare()
            samples[k].append(clock.time_block(fns[k], numbers[k]))
        n = len(samples[main])
        if n >= timing.min_samples:
            if time.perf_counter() - t_start >= timing.budget_s:
                stop_reason = "budget"
                break
            q1, med, q3 = np.percentile(samples[main], [25, 50, 75])
            if med > 0 and (q3 - q1) / med <= timing.target_precision:
                stop_reason = "precision"
                break
    out: dict[str, Any] = {k: {**summarize(v), "number": numbers[k]} for k, v in samples.items()}
    out["stop_reason"] = stop_reason
    out["elapsed_s"] = time.perf_counter() - t_start
    return out


def ratio_summary(num: list[float], den: list[float]) -> dict[str, float]:
    """Median and quartiles of per-round ratios num[i] / den[i]."""
    r = np.asarray(num, dtype=np.float64) / np.asarray(den, dtype=np.float64)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "count": int(r.size)}


def cuda_graphed(fns: dict[str, Callable[[], Any]]) -> tuple[dict[str, Callable[[], Any]], str]:
    """Capture each callable in a CUDA graph and time its replay (launch overhead removed).

    A callable that cannot be captured (host synchronisation, allocation outside the graph's
    pool, CPU work) keeps running eagerly; the returned note names those.
    """
    import torch

    out: dict[str, Callable[[], Any]] = {}
    failed = []
    for name, fn in fns.items():
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    fn()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                fn()
            out[name] = graph.replay
        except Exception as exc:  # capture is best effort; say which callables ran eagerly
            out[name] = fn
            failed.append(f"{name} ({type(exc).__name__})")
    note = "CUDA graphs: replayed" + (f"; not capturable, ran eagerly: {', '.join(failed)}"
                                      if failed else "")
    return out, note
