"""Busy-machine detection: CPU time other processes used while a case was timed.

Linux only: ``/proc/stat`` gives the machine's busy time (user, nice, system, irq, softirq,
steal) and ``/proc/self/stat`` this worker's own (``utime + stime``, every thread: torch's
intra-op threads included); the difference over the timed rounds is other work. On CUDA the
SM and memory clocks and the throttle reasons come from NVML when ``nvidia-ml-py`` is
installed.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

from gembench.results.records import Busy

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: fewest ticks of other processes' CPU time that can flag a case as busy
MIN_TICKS = 3


def _machine_busy_ticks() -> int | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    vals = [int(v) for v in first[1:9]]
    return sum(vals) - vals[3] - vals[4]


def _own_ticks() -> int | None:
    try:
        text = Path("/proc/self/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _nvml() -> dict[str, Any] | None:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return {"sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
                "throttle_reasons": int(
                    pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h))}
    except Exception as exc:  # NVML is optional; report what went wrong instead
        return {"error": repr(exc)}
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


class BusyMonitor:
    """``start()`` before the timed rounds, ``stop()`` after: a :class:`Busy` record."""

    def __init__(self, threshold_cores: float, device: str = "cpu") -> None:
        self.threshold = threshold_cores
        self.device = device
        self._start: tuple[int | None, int | None, float] = (None, None, 0.0)

    def start(self) -> None:
        self._start = (_machine_busy_ticks(), _own_ticks(), time.perf_counter())

    def stop(self) -> Busy:
        machine0, own0, t0 = self._start
        machine1, own1, wall = _machine_busy_ticks(), _own_ticks(), time.perf_counter() - t0
        gpu = _nvml() if self.device.startswith("cuda") else None
        load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        if None in (machine0, own0, machine1, own1) or wall <= 0:
            return Busy(wall_s=wall, load_avg=load, gpu=gpu, threshold_cores=self.threshold,
                        source="unavailable (no /proc)")
        other = max(0, (machine1 - machine0) - (own1 - own0)) / _TICK  # type: ignore[operator]
        return Busy(other_cpu_s=other, wall_s=wall, other_cores=other / wall,
                    threshold_cores=self.threshold, load_avg=load, gpu=gpu,
                    source=f"/proc/stat busy - /proc/self/stat utime+stime, {_TICK} ticks/s")

    @staticmethod
    def is_busy(busy: Busy) -> bool:
        """Other processes used more than ``threshold_cores`` on average, and more clock
        ticks than the counters' rounding can make up (:func:`evidence_ticks`)."""
        return (busy.other_cores is not None and busy.threshold_cores is not None
                and busy.other_cores > busy.threshold_cores
                and (busy.other_cpu_s or 0.0) * _TICK >= evidence_ticks(busy.visits))


def evidence_ticks(visits: int | None) -> float:
    """Fewest ticks of other work that show a busy machine over ``visits`` timed visits.

    The counters advance in whole ticks (10 ms) and each visit reads the machine's and the
    process's counters at its start and end: each difference is off by less than a tick
    (variance 1/6 each), so the other-work count of ``v`` visits carries rounding with a
    standard deviation of sqrt(v/3) ticks. Evidence is three of those, and never fewer than
    :data:`MIN_TICKS` (one stray tick over a 10 ms window is not a busy machine)."""
    return max(MIN_TICKS - 0.5, 3.0 * math.sqrt((visits or 1) / 3.0))


def resolvable(busy: Busy) -> bool:
    """Whether the figures' window is long enough that a neighbour at the threshold would
    show: ``threshold_cores`` x wall, in ticks, reaches :func:`evidence_ticks`."""
    return (busy.wall_s is not None and busy.threshold_cores is not None
            and busy.threshold_cores * busy.wall_s * _TICK >= evidence_ticks(busy.visits))


class VisitBusy:
    """Other processes' CPU time per timed callable: ``before()`` and ``after(name)`` around
    every visit of the rounds, then :meth:`of` sums the visits of a set of callables (a case
    and the baselines its ratios divide by), so a case's busy figure covers its baselines too."""

    def __init__(self, threshold_cores: float, device: str = "cpu") -> None:
        self.threshold, self.device = threshold_cores, device
        self.ticks: dict[str, int] = {}
        self.wall: dict[str, float] = {}
        self.count: dict[str, int] = {}
        #: (wall seconds, other ticks) of every visit, in time order
        self.series: list[tuple[float, int]] = []
        self._mark: tuple[int | None, int | None, float] = (None, None, 0.0)
        self.available = _machine_busy_ticks() is not None and _own_ticks() is not None

    def before(self, _name: str = "") -> None:
        self._mark = (_machine_busy_ticks(), _own_ticks(), time.perf_counter())

    def after(self, name: str) -> None:
        m0, o0, t0 = self._mark
        m1, o1 = _machine_busy_ticks(), _own_ticks()
        wall = time.perf_counter() - t0
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.count[name] = self.count.get(name, 0) + 1
        if None not in (m0, o0, m1, o1):
            # signed: the machine's and the process's counters tick apart, so one visit can
            # read a tick too many or too few; clamping each visit would only ever add
            other = (m1 - m0) - (o1 - o0)  # type: ignore[operator]
            self.ticks[name] = self.ticks.get(name, 0) + other
            self.series.append((wall, other))

    @property
    def transient(self) -> bool:
        """The other work came and went: some third of the rounds' visits (in time order)
        saw less than the threshold of other work. A steady neighbour shows in every third,
        and re-timing would only meet it again. Judged on thirds, not single visits: one
        visit of 25 ms holds two or three ticks, too few to tell a neighbour from rounding."""
        if not self.series:
            return False
        k = len(self.series)
        thirds = [self.series[i * k // 3:(i + 1) * k // 3] for i in range(3)]
        for part in thirds:
            wall = sum(w for w, _ in part)
            ticks = sum(t for _, t in part)
            if not part or ticks <= 0 or (wall > 0 and ticks / _TICK / wall <= self.threshold):
                return True
        return False

    def of(self, names: set[str]) -> Busy:
        """The :class:`Busy` record of the visits of ``names``."""
        wall = sum(self.wall.get(n, 0.0) for n in names)
        load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        gpu = _nvml() if self.device.startswith("cuda") else None
        if not self.available or wall <= 0:
            return Busy(wall_s=wall, load_avg=load, gpu=gpu, threshold_cores=self.threshold,
                        source="unavailable (no /proc)")
        other = max(0, sum(self.ticks.get(n, 0) for n in names)) / _TICK
        return Busy(other_cpu_s=other, wall_s=wall, other_cores=other / wall,
                    threshold_cores=self.threshold, load_avg=load, gpu=gpu,
                    visits=sum(self.count.get(n, 0) for n in names),
                    source=f"/proc/stat busy - /proc/self/stat utime+stime over the visits of "
                           f"the case and its baselines, {_TICK} ticks/s")

    def judge(self, names: set[str]) -> Busy:
        """The case's :class:`Busy` from its own visits (``names``: the case and its
        baselines), or, where those are too short to show a neighbour at the threshold
        (:func:`resolvable`: single cold calls), from every visit of the group's rounds."""
        own = self.of(names)
        if own.other_cpu_s is None or resolvable(own):
            return own
        whole = self.of(set(self.wall))
        whole.source = (f"{whole.source}; every visit of the group (the case's own "
                        f"{own.wall_s:.3f} s were too short to judge)")
        return whole


__all__ = ["BusyMonitor", "VisitBusy", "evidence_ticks", "resolvable"]
