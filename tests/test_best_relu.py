"""“× best ReLU” as the per-round chain case/anchor x anchor/best."""

from __future__ import annotations

import numpy as np
import pytest

from gembench.results.best_relu import best_relu_ratios, chain
from gembench.results.records import CaseRecord, Stats, TimingRecord


def _rec(backend: str, activation: str, case_s: list[float], anchor_s: list[float],
         shape: int = 1024) -> CaseRecord:
    timing = TimingRecord.from_samples(case_s, 1, anchor=Stats.from_samples(anchor_s))
    return CaseRecord(case_id=f"{backend}/{activation}/{shape}", backend=backend,
                      activation=activation, shape=[shape], timing=timing)


def test_chain_goes_through_the_best_relu_of_the_same_setting() -> None:
    rng = np.random.default_rng(0)
    drift = rng.uniform(1.0, 3.0, 200)  # a machine whose speed wanders between rounds
    anchor = 1e-3 * drift
    cases = [
        _rec("slow", "relu", list(2e-3 * drift), list(anchor)),
        _rec("fast", "relu", list(0.5e-3 * drift), list(anchor)),
        _rec("fast", "gem", list(0.75e-3 * drift), list(anchor)),
        _rec("fast", "gem", list(1e-3 * drift), list(anchor), shape=2048),  # no ReLU there
    ]
    out = best_relu_ratios(cases)
    gem = out["fast/gem/1024"]
    assert gem.best_backend == "fast" and gem.best_case_id == "fast/relu/1024"
    assert gem.ratio.median == pytest.approx(1.5) and gem.ratio.q3 - gem.ratio.q1 < 1e-9
    assert out["slow/relu/1024"].ratio.median == pytest.approx(4.0)
    assert out["fast/relu/1024"].ratio.median == pytest.approx(1.0)
    assert "fast/gem/2048" not in out


def test_chain_combines_independent_spreads() -> None:
    a = np.array([1.0, 2.0])
    b = np.array([1.0, 3.0])
    r = chain(a, b)  # products 1, 3, 2, 6
    assert r.median == pytest.approx(2.5) and r.count == 2
    big = chain(np.linspace(1, 2, 5000), np.ones(5000))  # reduced to quantile points
    assert big.median == pytest.approx(1.5, rel=1e-3)


def _block(backend: str, activation: str, samples: list[float]) -> CaseRecord:
    """A GPT-2 MLP block case timed in comparison group ``g`` (no anchor: blocks have none)."""
    from gembench.engine.measuring.timing import summarize

    cid = f"mlp_block/{backend}/{activation}/float32/cpu/256x768x3072/forward/t2/caching/hot"
    return CaseRecord.from_json({
        "kind": "case", "case_id": cid, "context": "mlp_block", "backend": backend,
        "activation": activation, "label": activation, "dtype": "float32", "device": "cpu",
        "shape": [256, 768, 3072], "numel": 256 * 768 * 3072, "pass": "forward", "threads": 2,
        "allocator": "caching", "cache": "hot", "preset": "gpt2_small_mlp", "status": "ok",
        "timing": {**summarize(samples), "group_id": "g"}})


def test_the_fastest_relu_block_is_judged_round_by_round_in_a_group() -> None:
    """Eager's ReLU block has the lower median time, but fused's is faster in 6 rounds of 7:
    the fastest ReLU block is fused's, and no ReLU block reads below 1.00 against it."""
    from gembench.report.frames import cost_frame

    eager = [1.00, 1.00, 1.00, 1.00, 1.30, 1.30, 1.30]
    fused = [0.98, 0.98, 0.98, 1.20, 1.28, 1.28, 1.28]  # median 1.20 > 1.00, below eager 6 of 7
    recs = [_block("torch_eager", "relu", eager), _block("torch_fused", "relu", fused),
            _block("torch_eager", "gem", [1.1 * s for s in eager])]
    df = cost_frame(recs).set_index("backend")
    relu = df[df["activation"] == "relu"]
    assert set(relu["best_backend"]) == {"torch_fused"}
    assert relu["cross"].min() >= 1.0
