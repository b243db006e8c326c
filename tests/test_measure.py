"""One case measured in-process: the record carries every figure, and wrong answers fail."""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from gembench.engine.running.group import measure_one
from gembench.spec.cases import Case
from gembench.spec.policy import Timing

registry = importlib.import_module("gembench.backends")  # the package, not gembench.backend_names()
TIMING = Timing(budget_s=0.02, min_samples=5, warmup=1, error_elements=4096)


def case(backend: str, activation: str, numel: int = 1024, pass_: str = "forward",
         **kw: object) -> Case:
    return Case(backend=backend, activation=activation, shape=(numel,), pass_=pass_, **kw)


def test_record_has_medians_spread_bandwidth_memory_and_error() -> None:
    rec = measure_one(case("torch_fused", "gem", 1 << 14, "forward_backward",
                              params={"N": 2}), TIMING, 0)
    assert rec.status == "ok", rec.reason
    t = rec.timing
    assert t.count >= 5 and len(t.samples) == t.count
    assert t.q1 <= t.median <= t.q3 and t.min <= t.median
    assert t.relu.count == t.count and t.ratio_to_relu.count == t.count
    assert t.anchor.count == t.count and t.ratio_to_anchor.count == t.count
    assert t.copy.count == t.count and t.flush_bytes is None  # hot: no flush
    assert 0 < rec.derived.bandwidth_fraction < 5
    assert rec.memory.saved_ratio == 1.0
    assert rec.error.forward_eps <= 16 and rec.error.backward_eps <= 64
    assert rec.error.recheck.ok and rec.busy.wall_s > 0


def test_cold_case_flushes_twice_the_last_level_cache() -> None:
    from gembench.engine.measuring.cache import llc_size

    rec = measure_one(case("torch_eager", "relu", cache="cold"), TIMING, 0)
    assert rec.status == "ok", rec.reason
    assert rec.timing.flush_bytes == 2 * llc_size()[0] and rec.timing.number == 1
    assert "LLC" in rec.timing.flush_source


def test_relu_is_its_own_baseline() -> None:
    rec = measure_one(case("numpy", "relu"), TIMING, 0)
    assert rec.status == "ok"
    assert rec.timing.ratio_to_relu.median == 1.0


@pytest.fixture
def misbehaving(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.BACKEND_CLASSES, "misbehaving",
                        "misbehaving_backend:MisbehavingBackend")
    return "misbehaving"


def test_inaccurate_kernel_fails_its_case(misbehaving: str) -> None:
    rec = measure_one(case(misbehaving, "lambda_gelu", params={"lam": 1.0}), TIMING, 0)
    assert rec.status == "failed"
    assert rec.reason.startswith("inaccurate: forward error")
    assert rec.timing.count >= 5  # the measurement is kept for inspection


def test_kernel_that_stops_computing_while_timed_fails_the_recheck(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.BACKEND_CLASSES, "stale", "stale_backend:StaleBackend")
    from stale_backend import StaleKernel

    StaleKernel.calls = 0
    rec = measure_one(case("stale", "gelu", 1 << 12), TIMING, 0)
    assert rec.error.forward_eps <= 16  # correct before timing
    assert rec.status == "failed" and "recheck after timing" in rec.reason
    assert not rec.error.recheck.ok


def test_exception_becomes_failed_record(misbehaving: str) -> None:
    rec = measure_one(case(misbehaving, "mish"), TIMING, 0)
    assert rec.status == "failed" and "broken on purpose" in rec.reason and rec.where


def test_unsupported_dtype_is_skipped_with_reason() -> None:
    rec = measure_one(case("numpy", "gem", dtype="bfloat16"), TIMING, 0)
    assert rec.status == "skipped" and "bfloat16" in rec.reason


def test_unrepeatable_backward_is_timed_as_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend("tests/plugins")
    monkeypatch.setitem(registry.BACKEND_CLASSES, "once", "once_backend:OnceBackend")
    rec = measure_one(case("once", "relu", 1 << 16, "backward"), TIMING, 0)
    assert rec.status == "ok", rec.reason
    assert "forward+backward minus forward" in rec.pass_note
    assert rec.timing.derived_from == "forward_backward - forward"
    assert rec.timing.count >= 5
    plain = measure_one(case("torch_fused", "relu", 1 << 16, "backward"), TIMING, 0)
    assert plain.pass_note is None and plain.timing.derived_from is None


def test_cuda_graphs_option_is_ignored_with_a_note_on_cpu() -> None:
    rec = measure_one(case("torch_fused", "gem"), replace(TIMING, cuda_graphs=True), 0)
    assert rec.status == "ok"
    assert rec.timing.cuda_graphs == "cuda_graphs ignored: not a CUDA device"


def test_preallocated_output_is_timed_where_the_backend_allows() -> None:
    rec = measure_one(case("onnxruntime", "gem", 1 << 14), TIMING, 0)
    assert rec.status == "ok", rec.reason
    assert rec.timing.prealloc.count >= TIMING.min_samples
    assert rec.timing.mode == "as_called"  # ratios use the as-called figure
    eager = measure_one(case("torch_eager", "gem", 1 << 14), TIMING, 0)
    assert eager.timing.prealloc is None


def test_forward_backward_checks_the_forward_it_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forward wrong only in grad mode (the graph a forward+backward case times) fails the
    case on its forward error, not only through the gradient."""
    from gembench.backends.torch_eager import EagerKernel

    plain = EagerKernel.forward

    def wrong_in_grad_mode(self: EagerKernel, x: object, out: object = None) -> object:
        y = plain(self, x, out)
        return y * 1.5 if getattr(x, "requires_grad", False) else y

    monkeypatch.setattr(EagerKernel, "forward", wrong_in_grad_mode)
    rec = measure_one(Case(backend="torch_eager", activation="gelu", shape=(4096,),
                           pass_="forward_backward"), TIMING, 0)
    assert rec.status == "failed" and "forward error" in (rec.reason or ""), rec.reason
