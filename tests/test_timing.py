"""The timing loop: minimum samples, interleaved per-round ratios, stopping rules, cache state."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from gembench.engine.measuring.timing import CpuClock, Interleaved, interleaved
from gembench.results.records import RatioStats, Stats
from gembench.spec.policy import Timing


def busy(seconds: float):
    def fn() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    return fn


def logged(log: list[str], name: str, seconds: float):
    """A callable that appends its name to ``log``, then spins for ``seconds``."""
    spin = busy(seconds)

    def fn() -> None:
        log.append(name)
        spin()
    return fn


def hot_rounds(timing: Timing, seconds: float) -> tuple[Interleaved, list[str]]:
    """Hot rounds of two callables "a" and "b" of ``seconds`` each; returns the result and
    the order of their calls after calibration (3 x (untimed call + timed call) each)."""
    log: list[str] = []
    res = interleaved({"a": logged(log, "a", seconds), "b": logged(log, "b", seconds)},
                      CpuClock(), timing, "a")
    return res, log[12:]


def test_summary_statistics_of_known_samples() -> None:
    s = Stats.from_samples([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median == 3.0 and s.min == 1.0 and s.count == 5
    assert s.iqr == pytest.approx(2.0) and s.mean == pytest.approx(22.0)
    assert s.samples == [1.0, 2.0, 3.0, 4.0, 100.0]


def test_ratio_is_median_of_per_round_ratios_not_ratio_of_medians() -> None:
    num = [2.0, 4.0, 6.0]
    den = [1.0, 1.0, 3.0]  # per-round ratios 2, 4, 2
    assert RatioStats.per_round(num, den).median == 2.0
    assert np.median(num) / np.median(den) == 4.0


def test_never_fewer_than_min_samples_even_when_budget_is_spent() -> None:
    timing = Timing(budget_s=1e-6, min_samples=7, warmup=0, target_precision=1e-9)
    res = interleaved({"case": busy(2e-4)}, CpuClock(), timing, main="case")
    assert res.stats("case").count == 7
    assert len(res.samples["case"]) == 7
    assert res.stop_reason == "budget"


def test_interleaved_ratio_of_known_costs() -> None:
    timing = Timing(budget_s=0.3, min_samples=10, warmup=1, min_sample_time_s=1e-3)
    res = interleaved({"case": busy(2e-3), "relu": busy(1e-3)}, CpuClock(), timing, "case")
    assert res.ratio("case", "relu").median == pytest.approx(2.0, rel=0.1)
    assert res.stats("case").count == res.stats("relu").count >= 10
    assert res.stats("case").median == pytest.approx(2e-3, rel=0.1)


def test_block_of_calls_for_fast_functions() -> None:
    calls = []
    timing = Timing(budget_s=0.05, min_samples=5, warmup=0, min_sample_time_s=1e-3)
    res = interleaved({"case": lambda: calls.append(1)}, CpuClock(), timing, "case")
    assert res.stats("case").number > 10  # a sample times many calls of a microsecond function
    assert res.stats("case").median < 1e-4


def test_precision_target_stops_early() -> None:
    timing = Timing(budget_s=30, min_samples=5, max_samples=1000, warmup=0,
                    target_precision=0.5, min_sample_time_s=1e-3)
    t0 = time.perf_counter()
    res = interleaved({"case": busy(1e-3)}, CpuClock(), timing, "case")
    assert res.stop_reason == "precision" and res.stats("case").count < 100
    assert time.perf_counter() - t0 < 5


def test_hot_repeats_the_call_before_each_sample_and_cold_flushes() -> None:
    """Hot: untimed calls of the same callable right before each of its samples (whatever
    ran before it in the round; here one, the warm-up time being 0); cold: a flush instead,
    and one call per sample."""
    timing = Timing(budget_s=1e-6, min_samples=4, warmup=0, min_sample_time_s=1e-4,
                    hot_warmup_s=0.0)
    res, rounds = hot_rounds(timing, 3e-4)
    assert res.numbers == {"a": 1, "b": 1}
    assert rounds == ["a", "a", "b", "b", "b", "b", "a", "a"] * 2  # rotating order
    log: list[str] = []
    cold = CpuClock(flush=lambda: log.append("flush"))
    res = interleaved({"a": lambda: log.append("a")}, cold, timing, "a")
    assert res.numbers["a"] == 1 and log == ["flush", "a"] * 4


def test_hot_warm_block_lasts_the_warmup_time_before_every_sample() -> None:
    """Hot: before each sample, untimed calls lasting at least ``hot_warmup_s`` (and at least
    one sample's calls), so the other callables of the round leave no trace in the cache."""
    timing = Timing(budget_s=1e-6, min_samples=3, warmup=0, min_sample_time_s=2e-3,
                    hot_warmup_s=6e-3)
    res, rounds = hot_rounds(timing, 1e-3)
    assert res.numbers == {"a": 2, "b": 2}
    # rounds a b | b a | a b: each visit is a warm block then the 2 timed calls, back to back
    assert [k for k, _g in itertools.groupby(rounds)] == ["a", "b", "a", "b"]
    per_visit = len(rounds) / 6
    assert per_visit == int(per_visit) and per_visit >= 2 + 5, rounds  # 6 ms of ~1 ms calls


def test_a_call_lasting_a_whole_sample_gets_one_warm_call() -> None:
    """A call at least ``min_sample_time_s`` long is its own warm-up: one untimed call, then
    one timed call, however long ``hot_warmup_s`` is (a longer block would only push the
    round's samples apart in time)."""
    timing = Timing(budget_s=1e-6, min_samples=3, warmup=0, min_sample_time_s=1e-3,
                    hot_warmup_s=0.5)
    res, rounds = hot_rounds(timing, 2e-3)
    assert res.numbers == {"a": 1, "b": 1}
    assert rounds == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
