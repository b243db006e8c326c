"""Under load: nothing impossible or busy-dominated reaches the verdict's headline, the verdict
says what it withheld and why, and ``run`` exits with its busy status (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gembench.engine.measuring.timing import summarize
from gembench.report import terminal
from gembench.report.summary import print_summary
from gembench.report.trust import EXIT_BUSY
from gembench.report.verdict import build_verdict
from gembench.results.records import CaseRecord

ROUNDS = 12


def _rec(backend: str, act: str, ratio: float, *, busy: bool = False, spread: float = 0.01,
         seed: int = 0, status: str = "ok") -> dict:
    """A float32 hot forward case at 1M timed in one group (``g``): ``ratio`` times the anchor
    ReLU, round by round, with ``spread`` of noise; ``busy``: 1.5 other cores while timed."""
    rng = np.random.default_rng(seed)
    anchor = 1e-4 * rng.lognormal(0, 0.02, ROUNDS)
    own = anchor * ratio * rng.lognormal(0, spread, ROUNDS)
    cid = f"elementwise/{backend}/{act}/float32/cpu/1048576/forward/t2/caching/hot"
    return {"kind": "case", "case_id": cid, "context": "elementwise", "backend": backend,
            "activation": act, "label": act, "dtype": "float32", "device": "cpu",
            "shape": [1 << 20], "numel": 1 << 20, "pass": "forward", "threads": 2,
            "allocator": "caching", "cache": "hot", "status": status,
            "timing": {**summarize(own.tolist()), "group_id": "g",
                       "anchor": summarize(anchor.tolist()),
                       "ratio_to_relu": {"median": float(np.median(own / anchor))}},
            "error": {"elements": 1024, "forward_eps": 1.0, "forward_tol": 16.0},
            "machine_busy": busy,
            "busy": {"other_cores": 1.5 if busy else 0.0, "threshold_cores": 0.5}}


def _quiet() -> list[dict]:
    return [_rec("torch_eager", "relu", 1.0), _rec("numpy", "relu", 1.6, seed=1),
            _rec("torch_eager", "gem", 1.7, seed=2), _rec("numpy", "gem", 2.5, seed=3),
            _rec("torch_eager", "gelu", 2.2, seed=4)]


def _verdict(recs: list[dict]):
    return build_verdict([CaseRecord.from_json(r) for r in recs])


def test_quiet_run_withholds_nothing() -> None:
    v = _verdict(_quiet())
    assert v.trust.figures == 3 and v.trust.shown == 3 and not v.trust.too_busy
    gem = next(r for r in v.rows if r.label == "gem")
    assert gem.backend == "torch_eager" and gem.ratio == pytest.approx(1.7, rel=0.05)


def test_busy_and_spread_figures_are_withheld_with_the_reason() -> None:
    recs = _quiet()
    recs[2] = _rec("torch_eager", "gem", 1.7, busy=True, spread=0.4, seed=2)  # best gem: busy
    recs[3] = _rec("numpy", "gem", 2.5, busy=True, spread=0.4, seed=3)
    v = _verdict(recs)
    gem = next(r for r in v.rows if r.label == "gem")
    assert gem.withheld and gem.withheld.startswith("busy machine")
    assert v.trust.by_load == 1 and v.trust.too_busy
    text = terminal.terminal(v)
    line = next(ln for ln in text.splitlines() if ln.startswith("gem "))
    assert "withheld" in line and "1.7" not in line
    assert "1 of 3 headline figures withheld" in text and "1.5 other cores" in text
    assert all(len(ln) <= terminal.WIDTH for ln in text.splitlines())


def test_a_quiet_case_divided_by_a_busy_fastest_relu_is_busy_too() -> None:
    recs = _quiet()
    recs[0] = _rec("torch_eager", "relu", 0.6, busy=True, spread=0.4)  # a busy "fastest" ReLU
    v = _verdict(recs)
    gem = next(r for r in v.rows if r.label == "gem")
    assert not gem.busy  # a quiet ReLU exists: it is the baseline, not the busy one
    recs[1] = _rec("numpy", "relu", 1.6, busy=True, spread=0.4, seed=1)  # now every ReLU busy
    v = _verdict(recs)
    gem = next(r for r in v.rows if r.label == "gem")
    assert gem.busy and gem.withheld  # the ratio's denominator was measured busy


def test_impossible_figures_never_reach_the_headline() -> None:
    recs = [*_quiet(), _rec("numpy", "gelu", 0.05, seed=9)]  # 0.05x the fastest ReLU
    v = _verdict(recs)
    gelu = next(r for r in v.rows if r.label == "gelu")
    assert gelu.backend == "torch_eager" and gelu.ratio > 1  # the impossible one is not chosen
    only = _verdict([_rec("torch_eager", "relu", 1.0), _rec("numpy", "gelu", 0.05, seed=9)])
    (row,) = [r for r in only.rows if r.label == "gelu"]
    assert row.withheld and "faster than any activation" in row.withheld
    assert only.trust.impossible == 1 and not only.trust.too_busy


def test_run_exit_status_is_3_when_the_machine_was_too_busy(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture
                                                           ) -> None:
    recs = _quiet()
    recs[2] = _rec("torch_eager", "gem", 1.7, busy=True, spread=0.4, seed=2)
    recs[3] = _rec("numpy", "gem", 2.5, busy=True, spread=0.4, seed=3)
    path = tmp_path / "results.jsonl"
    run = {"kind": "run", "schema": 2, "suite": "t", "environment": {}}
    path.write_text("".join(json.dumps(r) + "\n" for r in [run, *recs]))
    assert print_summary(path) == EXIT_BUSY
    quiet = tmp_path / "quiet.jsonl"
    quiet.write_text("".join(json.dumps(r) + "\n" for r in [run, *_quiet()]))
    assert print_summary(quiet) == 0
    failed = tmp_path / "failed.jsonl"
    failed.write_text("".join(json.dumps(r) + "\n" for r in
                          [run, *recs, _rec("numpy", "silu", 2.0, status="failed")]))
    assert print_summary(failed) == 1  # a failed case says more than a busy machine


def test_a_busy_figure_is_withheld_even_when_its_interval_is_tight() -> None:
    """Under one CPU hog a tight busy figure read 86% off the quiet run (load test)."""
    recs = _quiet()
    recs[2] = _rec("torch_eager", "gem", 1.7, busy=True, spread=0.001, seed=2)
    recs[3] = _rec("numpy", "gem", 2.5, busy=True, spread=0.001, seed=3)
    gem = next(r for r in _verdict(recs).rows if r.label == "gem")
    assert gem.withheld and gem.withheld.startswith("busy machine")
