"""A comparison group timed in one set of rounds: shared baselines, direct same-round ratios
between any two cases, per-case outcomes, anomaly flags (issue 20)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from gembench.engine.measuring.anomalies import bimodal, drifted
from gembench.engine.running.executors import culprits
from gembench.engine.running.group import measure_group
from gembench.report.frames import cost_frame
from gembench.report.verdict import build_verdict
from gembench.results.best_relu import direct
from gembench.results.records import CaseRecord, Outcome
from gembench.spec.cases import Case
from gembench.spec.policy import Timing

registry = importlib.import_module("gembench.backends")
TIMING = Timing(budget_s=0.02, min_samples=6, warmup=1, error_elements=4096,
                min_sample_time_s=1e-3, hot_warmup_s=2e-3)


def _case(backend: str, activation: str, **kw: Any) -> Case:
    return Case(backend=backend, activation=activation, shape=(1 << 14,), **kw)


def _measure(cases: list[Case]) -> tuple[dict[str, Outcome], list[str]]:
    got: dict[str, Outcome] = {}
    events: list[str] = []

    def event(kind: str, **f: Any) -> None:
        events.append(kind)
        if kind == "outcome":
            got[f["case_id"]] = f["outcome"]

    measure_group(cases, [TIMING] * len(cases), 0, event)
    return got, events


def _records(cases: list[Case], got: dict[str, Outcome]) -> list[CaseRecord]:
    return [CaseRecord.from_json({"kind": "case", **c.record_fields(),
                                  **got[c.case_id].to_json()}) for c in cases]


def test_group_shares_rounds_and_baselines_and_gives_direct_ratios() -> None:
    cases = [_case(b, a) for b in ("torch_eager", "numpy") for a in ("relu", "gem", "gelu")]
    got, events = _measure(cases)
    assert set(got) == {c.case_id for c in cases}
    assert events.count("built") == 6 and events.count("round") >= TIMING.min_samples
    assert all(o.status == "ok" for o in got.values()), {k: o.reason for k, o in got.items()}
    timings = [o.timing for o in got.values()]
    assert len({t.group_id for t in timings}) == 1 and timings[0].group_id
    # 6 cases, 2 of them the ReLUs the others share, the anchor and the copy
    assert {t.group_callables for t in timings} == {6 + 2}
    n = {t.count for t in timings}
    assert len(n) == 1  # one sample per callable per round
    # a case's ReLU baseline is its backend's ReLU case, sample for sample
    eager_relu = got[_case("torch_eager", "relu").case_id].timing
    eager_gem = got[_case("torch_eager", "gem").case_id].timing
    assert eager_gem.relu.samples == eager_relu.samples
    recs = _records(cases, got)
    by = {r.case_id: r for r in recs}
    gem_np, gem_te = by[_case("numpy", "gem").case_id], by[_case("torch_eager", "gem").case_id]
    r = direct(gem_np, gem_te)
    assert r is not None and r.count == len(gem_np.timing.samples)
    per_round = np.asarray(gem_np.timing.samples) / np.asarray(gem_te.timing.samples)
    assert r.median == pytest.approx(float(np.median(per_round)))
    costs = cost_frame(recs)
    assert costs["direct"].all() and np.isfinite(costs["cross"].astype(float)).all()


def test_a_case_that_fails_to_build_leaves_the_rest_of_its_group(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.BACKEND_CLASSES, "misbehaving",
                        "misbehaving_backend:MisbehavingBackend")
    cases = [_case("torch_eager", "relu"), _case("torch_eager", "gem"),
             _case("misbehaving", "mish"), _case("misbehaving", "relu")]
    got, _ = _measure(cases)
    assert got[cases[2].case_id].status == "failed"
    assert "broken on purpose" in got[cases[2].case_id].reason
    assert got[cases[0].case_id].status == got[cases[1].case_id].status == "ok"


def test_a_slow_relu_baseline_is_flagged_and_never_the_best(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.BACKEND_CLASSES, "slow_relu", "slow_relu_backend:SlowReluBackend")
    cases = [_case("slow_relu", "relu"), _case("slow_relu", "gelu"),
             _case("torch_eager", "relu"), _case("torch_eager", "gelu")]
    got, _ = _measure(cases)
    slow_gelu = got[cases[1].case_id]
    assert slow_gelu.status == "ok", slow_gelu.reason
    assert slow_gelu.timing.ratio_to_relu.median < 0.5
    codes = [a.split(":")[0] for a in slow_gelu.anomalies or []]
    assert "baseline_slower" in codes and "below_half_relu" in codes
    assert not got[cases[3].case_id].anomalies  # eager GELU against eager ReLU is plausible
    v = build_verdict(_records(cases, got))
    gelu = [r for r in v.rows if r.label == "gelu"]
    assert gelu and all(r.backend == "torch_eager" for r in gelu)
    assert any(cases[1].case_id in a for a in v.anomalies)


def test_bimodal_and_drift_detectors() -> None:
    rng = np.random.default_rng(0)
    one = 1 + 0.01 * rng.standard_normal(30)
    two = np.concatenate([one[:15], one[15:] + 0.3])
    assert not bimodal(one) and bimodal(two)
    assert drifted(np.linspace(1.0, 1.5, 30)) and not drifted(one)


def test_the_culprit_of_a_crash_is_the_case_or_the_backend_it_names() -> None:
    todo = [_case("numpy", "gem"), _case("numpy", "relu"), _case("torch_eager", "gem")]
    assert culprits(f"build:{todo[2].case_id}", todo) == [todo[2]]
    assert culprits(f"{todo[0].case_id}:activation", todo) == [todo[0]]
    assert culprits("relu:numpy", todo) == todo[:2]
    assert culprits("copy", todo) == todo


def test_a_group_gives_each_callable_the_budget_it_had_alone() -> None:
    """Three cases sharing their ReLU, anchor and copy: 6 callables where alone they timed 12,
    so the group's budget is half the sum of theirs; a lone case keeps its own."""
    from types import SimpleNamespace

    from gembench.engine.running.group import _group_timing

    own = ["case", "relu", "anchor", "copy"]
    members: Any = [SimpleNamespace(timing=Timing(budget_s=1.0), names=dict.fromkeys(own))
                    for _ in range(3)]
    assert _group_timing(members, 6).budget_s == pytest.approx(1.5)
    assert _group_timing(members[:1], 4).budget_s == pytest.approx(1.0)
    assert _group_timing(members, 12).budget_s == pytest.approx(3.0)
