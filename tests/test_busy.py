"""Busy-machine detection: a CPU hog running beside a timed case gets the case flagged."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gembench.engine.measuring.busy import BusyMonitor, VisitBusy, evidence_ticks, resolvable
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
    # a visit of a steady neighbour can read 0 or 1 ticks: thirds, not single visits, decide
    lumpy = visits([0, 1, 4, 1, 0, 5, 1, 0, 4, 0, 1, 3])
    assert not lumpy.transient


def _visits(per_name: dict[str, tuple[float, int, int]]) -> VisitBusy:
    """A VisitBusy as the rounds leave it: name -> (wall seconds, visits, other ticks)."""
    v = VisitBusy(0.5)
    v.available = True
    for name, (wall, count, ticks) in per_name.items():
        v.wall[name], v.count[name], v.ticks[name] = wall, count, ticks
    return v


def test_tick_rounding_over_many_short_visits_is_not_a_busy_machine() -> None:
    """35 single cold calls in 74 ms that read 5 ticks of other work (what flagged 33 cases of
    a quiet main-command run): within the rounding of 70 counter readings, so not busy, and
    the case is judged over the whole group's visits instead."""
    assert evidence_ticks(1) == pytest.approx(2.5)
    assert evidence_ticks(35) == pytest.approx(3 * (35 / 3) ** 0.5)
    short = {"case": (0.074, 35, 5)}
    quiet = _visits({**short, "other": (2.0, 400, 4)})
    own = quiet.of({"case"})
    assert own.visits == 35 and own.other_cores > 0.5
    assert not BusyMonitor.is_busy(own) and not resolvable(own)
    judged = quiet.judge({"case"})
    assert judged.visits == 435 and "every visit of the group" in (judged.source or "")
    assert not BusyMonitor.is_busy(judged)
    hog = _visits({**short, "other": (2.0, 400, 190)})  # a neighbour on one core throughout
    assert BusyMonitor.is_busy(hog.judge({"case"}))


def test_a_long_enough_window_is_judged_on_its_own_visits() -> None:
    v = _visits({"case": (0.7, 28, 60), "other": (5.0, 200, 0)})
    own = v.judge({"case"})
    assert own.visits == 28 and own.wall_s == pytest.approx(0.7)
    assert BusyMonitor.is_busy(own)  # 0.86 cores over its own visits
