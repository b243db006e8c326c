"""Timing: warm-up, then interleaved rounds of samples until a budget or a precision target.

Like torch.utils.benchmark's adaptive autorange, each sample times a block of ``number`` calls
(enough to rise above the clock's resolution) and sampling stops once the spread is small or
the budget is spent, but never before ``min_samples``. Unlike it, several callables (the case,
its ReLU baselines, the copy ceiling) are timed round by round, in rotating order or in a fresh
random order each round (``RoundPlan.shuffle``, what comparison groups use), so that a shared
machine's drift hits all of them alike and per-round ratios cancel it.

Cache state is the clock's. ``hot``: before each sample the callable runs untimed for at
least ``timing.hot_warmup_s`` and at least as many calls as the sample times (a warm block),
so every timed call is a repeat of the same call in the steady state torch.utils.benchmark
measures, whatever ran before it in the round; one warm call does not restore that state
(docs/measurement.md gives the measurements behind the default). ``cold`` flushes the caches
before each sample and times one call per sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gembench.results.records import Busy, RatioStats, Stats
from gembench.spec.policy import Timing
from gembench.stats import per_round, precise


class CpuClock:
    """Wall-clock timing with ``perf_counter``; ``sync`` waits for queued device work;
    ``flush`` (cold cache) runs before every sample, which then times one call."""

    name = "perf_counter"

    def __init__(self, sync: Callable[[], None] = lambda: None,
                 flush: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.flush = flush
        self.flush_bytes: int | None = getattr(flush, "nbytes", None)
        self.flush_source: str | None = getattr(flush, "source", None)

    @property
    def single_call(self) -> bool:
        return self.flush is not None

    @property
    def cache(self) -> str:
        return "cold" if self.flush is not None else "hot"

    def prepare(self, fn: Callable[[], Any], number: int = 1) -> None:
        """Before each sample, outside the timed region: flush (cold) or a warm block of
        ``number`` untimed calls (hot)."""
        if self.flush is not None:
            self.flush()
        else:
            for _ in range(number):
                fn()
        self.sync()

    def time_block(self, fn: Callable[[], Any], number: int) -> float:
        self.sync()
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        self.sync()
        return (time.perf_counter() - t0) / number


class CudaClock:
    """CUDA events around the block; cold: after zeroing a buffer of twice the L2 (sized from
    the device), one call per sample, as triton.testing.do_bench does."""

    name = "cuda_events"

    def __init__(self, cold: bool = True) -> None:
        import torch

        self.torch = torch
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        l2 = getattr(props, "L2_cache_size", 0) or 64 * 1024**2
        self.cold = cold
        self.flush_bytes = 2 * l2 if cold else None
        self.flush_source = f"2 x L2 {l2} B (torch.cuda.get_device_properties)" if cold else None
        self.flush_buffer = torch.empty(2 * l2, dtype=torch.int8, device="cuda") if cold else None

    @property
    def single_call(self) -> bool:
        return self.cold

    def sync(self) -> None:
        self.torch.cuda.synchronize()

    def prepare(self, fn: Callable[[], Any], number: int = 1) -> None:
        if self.flush_buffer is not None:
            self.flush_buffer.zero_()
        else:
            for _ in range(number):
                fn()

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
    """:meth:`Stats.from_samples` as a record dict (for records built by hand, e.g. tests)."""
    return Stats.from_samples(samples).to_json()


def calibrate(fn: Callable[[], Any], clock: Any, timing: Timing) -> tuple[int, int]:
    """``(number, warm)``: calls per sample, so that one sample lasts at least
    ``timing.min_sample_time_s``, and untimed calls before each sample, so that they last at
    least ``timing.hot_warmup_s`` and one sample; one warm call for a call that lasts a sample
    by itself; ``(1, 0)`` when the clock flushes and times single calls."""
    if clock.single_call:
        return 1, 0
    t1 = math.inf
    for _ in range(3):
        clock.prepare(fn)
        t1 = min(t1, clock.time_block(fn, 1))
    t1 = max(t1, 1e-9)
    if t1 >= timing.min_sample_time_s:
        # a call this long is its own warm-up (its working set is far beyond the caches);
        # more untimed calls would only push the round's samples apart in time and widen the
        # spread of "x best ReLU" (docs/measurement.md, "Why the warm block")
        return 1, 1
    number = math.ceil(timing.min_sample_time_s / t1)
    return number, max(number, math.ceil(timing.hot_warmup_s / t1))


@dataclass
class Interleaved:
    """What :func:`interleaved` measured: the raw samples of every callable, by round."""

    samples: dict[str, list[float]]
    numbers: dict[str, int]
    stop_reason: str
    elapsed_s: float
    busy: Busy | None = None
    retries: int = 0  # re-timings made because the machine was busy

    def stats(self, name: str) -> Stats:
        return Stats.from_samples(self.samples[name], self.numbers[name])

    def ratio(self, num: str, den: str) -> RatioStats:
        """Per-round ``num / den``."""
        return RatioStats.per_round(self.samples[num], self.samples[den])

    def difference(self, total: str, part: str) -> list[float]:
        """Per-round ``total - part`` samples (forward+backward minus forward)."""
        return [a - b for a, b in zip(self.samples[total], self.samples[part])]

    def __contains__(self, name: str) -> bool:
        return name in self.samples

    def view(self, names: dict[str, str], busy: Busy | None = None) -> Interleaved:
        """The rounds seen by one case of a group: ``names`` maps the case's own callable
        names ("case", "relu", ...) to the group's; ``busy`` is the case's own figure."""
        return Interleaved({k: self.samples[g] for k, g in names.items()},
                           {k: self.numbers[g] for k, g in names.items()},
                           self.stop_reason, self.elapsed_s, busy, self.retries)


@dataclass
class RoundPlan:
    """How :func:`interleaved` orders, stops and reports its rounds (defaults: the single-case
    policy: rotating order, precision judged on ``main``'s own samples).

    ``pairs``: ``(numerator, denominator)`` names whose per-round ratio the precision target
    judges (every pair must meet it); ``shuffle``: each round visits the callables in a fresh
    random order from this seed (randomised interleaving) instead of rotating; ``on_visit(name)``
    runs before each timed visit, ``after_visit(name)`` after it, ``on_round(r)`` after round
    ``r``; ``budget_s`` overrides the policy's budget (a group spends its cases' budgets together).
    """

    pairs: tuple[tuple[str, str], ...] = ()
    shuffle: int | None = None
    on_visit: Callable[[str], None] | None = None
    after_visit: Callable[[str], None] | None = None
    on_round: Callable[[int], None] | None = None
    budget_s: float | None = None


def _order(names: list[str], r: int, rng: np.random.Generator | None) -> list[str]:
    if rng is None:
        return names[r % len(names):] + names[: r % len(names)]
    return [names[i] for i in rng.permutation(len(names))]


def _precise(samples: dict[str, list[float]], main: str, plan: RoundPlan,
             target: float) -> bool:
    """Whether the figure users read meets the precision target: every pair's per-round ratio
    (or, without pairs, ``main``'s own samples) has IQR/median <= ``target``."""
    return precise([per_round(samples[a], samples[b]) for a, b in plan.pairs]
                   or [samples[main]], target)


def interleaved(fns: dict[str, Callable[[], Any]], clock: Any, timing: Timing, main: str,
                monitor: Any = None, plan: RoundPlan | None = None) -> Interleaved:
    """Time every callable round by round (rotating or shuffled order, see :class:`RoundPlan`).

    Stops when ``main`` has at least ``min_samples`` samples and either the precision target is
    met (:func:`_precise`) or the budget is spent; or at ``max_samples``. ``monitor`` (a
    :class:`gembench.engine.measuring.busy.BusyMonitor`) watches the rounds.
    """
    plan = plan or RoundPlan()
    budget = timing.budget_s if plan.budget_s is None else plan.budget_s
    for fn in fns.values():
        for _ in range(timing.warmup):
            fn()
    clock.sync()
    calibrated = {k: calibrate(fn, clock, timing) for k, fn in fns.items()}
    numbers = {k: n for k, (n, _w) in calibrated.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    rng = None if plan.shuffle is None else np.random.default_rng(plan.shuffle)
    if monitor is not None:
        monitor.start()
    t_start = time.perf_counter()
    stop_reason = "max_samples"
    for r in range(timing.max_samples):
        for k in _order(names, r, rng):
            if plan.on_visit:
                plan.on_visit(k)
            clock.prepare(fns[k], calibrated[k][1])
            samples[k].append(clock.time_block(fns[k], numbers[k]))
            if plan.after_visit:
                plan.after_visit(k)
        if plan.on_round:
            plan.on_round(r)
        if len(samples[main]) >= timing.min_samples:
            if time.perf_counter() - t_start >= budget:
                stop_reason = "budget"
                break
            if _precise(samples, main, plan, timing.target_precision):
                stop_reason = "precision"
                break
    elapsed = time.perf_counter() - t_start
    busy = monitor.stop() if monitor is not None else None
    return Interleaved(samples, numbers, stop_reason, elapsed, busy)


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


__all__ = ["CpuClock", "CudaClock", "Interleaved", "RoundPlan", "calibrate", "cuda_graphed",
           "interleaved", "summarize"]
