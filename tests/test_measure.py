"""One case measured in-process: the record carries every figure, and wrong answers fail."""

from __future__ import annotations

import importlib

import pytest

from gembench.engine.measure import measure_safely
from gembench.engine.policy import Timing
from gembench.plan.cases import Case

registry = importlib.import_module("gembench.backends")  # the package, not gembench.backend_names()
TIMING = Timing(budget_s=0.02, min_samples=5, warmup=1, error_elements=4096)


def test_record_has_medians_spread_bandwidth_memory_and_error() -> None:
    rec = measure_safely(Case("torch_fused", "gem", {"N": 2}, "float32", "cpu", (1 << 14,),
                              "forward_backward", 1), TIMING, 0)
    assert rec["status"] == "ok", rec.get("reason")
    t = rec["timing"]
    assert t["count"] >= 5 and len(t["samples"]) == t["count"]
    assert t["q1"] <= t["median"] <= t["q3"] and t["min"] <= t["median"]
    assert t["relu"]["count"] == t["count"] and t["ratio_to_relu"]["count"] == t["count"]
    assert 0 < rec["derived"]["bandwidth_fraction"] < 5
    assert rec["memory"]["saved_ratio"] == 1.0
    assert rec["error"]["forward_eps"] <= 16 and rec["error"]["backward_eps"] <= 64


def test_relu_is_its_own_baseline() -> None:
    rec = measure_safely(Case("numpy", "relu", {}, "float32", "cpu", (1024,), "forward", 1),
                         TIMING, 0)
    assert rec["status"] == "ok"
    assert rec["timing"]["ratio_to_relu"]["median"] == 1.0


@pytest.fixture
def misbehaving(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.MODULES, "misbehaving",
                        "misbehaving_backend:MisbehavingBackend")
    return "misbehaving"


def test_inaccurate_kernel_fails_its_case(misbehaving: str) -> None:
    rec = measure_safely(Case(misbehaving, "lambda_gelu", {"lam": 1.0}, "float32", "cpu",
                              (1024,), "forward", 1), TIMING, 0)
    assert rec["status"] == "failed"
    assert rec["reason"].startswith("inaccurate: forward error")
    assert rec["timing"]["count"] >= 5  # the measurement is kept for inspection


def test_exception_becomes_failed_record(misbehaving: str) -> None:
    rec = measure_safely(Case(misbehaving, "mish", {}, "float32", "cpu", (1024,), "forward", 1),
                         TIMING, 0)
    assert rec["status"] == "failed" and "broken on purpose" in rec["reason"]


def test_unsupported_dtype_is_skipped_with_reason() -> None:
    rec = measure_safely(Case("numpy", "gem", {}, "bfloat16", "cpu", (1024,), "forward", 1),
                         TIMING, 0)
    assert rec["status"] == "skipped" and "bfloat16" in rec["reason"]


def test_unrepeatable_backward_is_timed_as_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.MODULES, "once", "once_backend:OnceBackend")
    rec = measure_safely(Case("once", "relu", {}, "float32", "cpu", (1 << 16,), "backward", 1),
                         TIMING, 0)
    assert rec["status"] == "ok", rec.get("reason")
    assert "forward+backward minus forward" in rec["pass_note"]
    assert rec["timing"]["derived_from"] == "forward_backward - forward"
    assert rec["timing"]["count"] >= 5
    plain = measure_safely(Case("torch_fused", "relu", {}, "float32", "cpu", (1 << 16,),
                                "backward", 1), TIMING, 0)
    assert plain["pass_note"] == "" and "derived_from" not in plain["timing"]


def test_cuda_graphs_option_is_ignored_with_a_note_on_cpu() -> None:
    from dataclasses import replace

    rec = measure_safely(Case("torch_fused", "gem", {}, "float32", "cpu", (1024,), "forward", 1),
                         replace(TIMING, cuda_graphs=True), 0)
    assert rec["status"] == "ok"
    assert rec["timing"]["cuda_graphs"] == "cuda_graphs ignored: not a CUDA device"


def test_preallocated_output_is_timed_where_the_backend_allows() -> None:
    rec = measure_safely(Case("onnxruntime", "gem", {}, "float32", "cpu", (1 << 14,), "forward",
                              1), TIMING, 0)
    assert rec["status"] == "ok", rec.get("reason")
    assert rec["timing"]["prealloc"]["count"] >= TIMING.min_samples
    assert rec["timing"]["mode"] == "as_called"  # ratios use the as-called figure
    eager = measure_safely(Case("torch_eager", "gem", {}, "float32", "cpu", (1 << 14,),
                                "forward", 1), TIMING, 0)
    assert "prealloc" not in eager["timing"]
