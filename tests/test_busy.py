"""Busy-machine detection: a CPU hog running beside a timed case gets the case flagged."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gembench.engine.measuring.busy import BusyMonitor
from gembench.engine.measuring.timing import CpuClock, interleaved
from gembench.engine.running.group import measure_one
from gembench.spec.cases import Case
from gembench.spec.policy import Timing

HOG = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


@pytest.fixture
def hog() -> Iterator[subprocess.Popen]:
    """A CPU-bound process on one core for at most 20 s."""
    proc = subprocess.Popen([sys.executable, "-c", HOG.format(s=20)])
    time.sleep(0.3)
    yield proc
    proc.kill()
    proc.wait()


def test_other_processes_cpu_time_is_measured_and_flags_the_case(hog: subprocess.Popen) -> None:
    monitor = BusyMonitor(threshold_cores=0.5)
    timing = Timing(budget_s=1.0, min_samples=5, warmup=0, target_precision=1e-9,
                    min_sample_time_s=1e-3)
    res = interleaved({"case": lambda: time.sleep(2e-3)}, CpuClock(), timing, "case", monitor)
    busy = res.busy
    assert busy is not None and busy.wall_s >= 1.0
    assert busy.other_cores > 0.5 and monitor.is_busy(busy)
    assert busy.load_avg is not None and len(busy.load_avg) == 3
    assert busy.other_cpu_s == pytest.approx(busy.other_cores * busy.wall_s)


def test_a_busy_case_is_marked_and_a_steady_load_not_retried(hog: subprocess.Popen) -> None:
    timing = Timing(budget_s=0.5, min_samples=5, warmup=1, error_elements=4096, retry_busy=1,
                    target_precision=1e-9, busy_threshold_cores=0.5)
    rec = measure_one(Case(backend="numpy", activation="gelu", shape=(4096,), threads=1),
                         timing, 0)
    assert rec.status == "ok", rec.reason
    # a steady neighbour shows in nearly every visit: re-timing would meet it again
    assert rec.machine_busy is True and rec.busy.retries == 0
    assert rec.busy.other_cores > rec.busy.threshold_cores


def test_only_a_transient_load_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import gembench.engine.measuring.busy as busy_mod

    def visits(other_per_visit: list[int]) -> busy_mod.VisitBusy:
        state = {"m": 0, "o": 0}
        monkeypatch.setattr(busy_mod, "_machine_busy_ticks", lambda: state["m"])
        monkeypatch.setattr(busy_mod, "_own_ticks", lambda: state["o"])
        v = busy_mod.VisitBusy(0.5)
        for other in other_per_visit:
            v.before()
            state["o"] += 3  # the worker's own ticks
            state["m"] += 3 + other  # the machine's: own plus other processes'
            v.after("case")
        return v

    came_and_went = visits([0, 0, 5, 4, 0, 0, 0, 0, 0, 0])
    assert came_and_went.ticks["case"] == 9 and came_and_went.transient
    steady = visits([3, 2, 3, 3, 3, 2, 3, 3, 0, 3])
    assert not steady.transient
