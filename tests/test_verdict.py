"""The verdict: first in every report, last in ``run``'s output, GEM family first, the best
implementation against the fastest ReLU, busy and failed cases named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from gembench.report import verdict
from gembench.report.frames import cost_frame
from gembench.report.markdown import write_report
from gembench.report.summary import print_summary
from gembench.results import CaseRecord, read

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "results-small.jsonl"
MAIN_SAMPLE = ROOT / "reports" / "samples" / "transformer_mlp-results.jsonl"


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def _verdict(path: Path = FIXTURE) -> verdict.Verdict:
    return verdict.build_verdict(read(path).cases)


def test_best_implementation_against_the_fastest_relu_by_hand():
    v = _verdict()
    cases = read(FIXTURE).cases
    costs = cost_frame(cases)
    row = next(r for r in v.rows if r.label == "gem(N=1)" and r.pass_ == "forward")
    assert row.shape == "262144"  # the largest elementwise shape
    mine = costs[(costs["label"] == "gem(N=1)") & (costs["pass"] == "forward")
                 & (costs["numel"] == 262144)]
    best = mine.sort_values("cross").iloc[0]
    assert row.backend == best["backend"]
    assert row.ratio == pytest.approx(best["cross"])
    assert row.ratio == pytest.approx(best["median"] / best["best_median"])
    assert row.accuracy == "ok"
    assert row.saved_ratio == pytest.approx(10.5)  # eager GEM: the best forward here


def test_gem_family_first_relu_last_and_passes_in_order():
    v = _verdict()
    labels = [r.label for r in v.rows if r.pass_ == "forward"]
    assert labels == ["gem(N=1)", "gelu", "relu"]
    assert [r.pass_ for r in v.rows][:3] == ["forward"] * 3
    (sentence,) = [s for s in verdict.sentences(v) if s.startswith("gem(N=1)")]
    assert sentence.index("forward") < sentence.index("backward")
    assert "the fastest ReLU here" in sentence


def test_failed_and_busy_cases_are_named(tmp_path):
    recs = _records()
    target = next(r for r in recs[1:] if r["status"] == "ok" and r["activation"] == "gem")
    target["machine_busy"] = True
    target["busy"] = {"other_cores": 0.9, "wall_s": 1.0}
    path = tmp_path / "busy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    v = _verdict(path)
    text = "\n".join(verdict.problems(v))
    assert "1 case(s) failed: elementwise/torch_compile/gelu" in text
    assert f"{target['case_id']} (0.9 other cores busy)" in text
    md = "\n".join(verdict.markdown(v))
    assert "measured on a busy machine" in md


def test_recheck_failure_shows_in_the_accuracy_status(tmp_path):
    recs = _records()
    for r in recs[1:]:
        if r["status"] == "ok" and r["activation"] == "gelu" and r["backend"] == "torch_eager":
            r["error"]["recheck"] = {"eps": float("nan"), "tol": 16, "ok": False}
    path = tmp_path / "recheck.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    row = next(r for r in _verdict(path).rows if r.label == "gelu" and r.pass_ == "forward")
    assert row.backend == "torch_eager" and row.accuracy == "recheck failed"


def test_report_begins_with_the_verdict(tmp_path):
    md = write_report([FIXTURE], tmp_path / "r.md").read_text()
    headings = [ln for ln in md.splitlines() if ln.startswith("## ")]
    assert headings[0] == "## Verdict"


@pytest.mark.skipif(not MAIN_SAMPLE.exists(), reason="no committed transformer_mlp sample")
def test_run_ends_with_a_short_verdict(capsys):
    """What ``gembench run suites/transformer_mlp.yaml`` prints last, on the committed sample."""
    assert print_summary(MAIN_SAMPLE, Path("reports/r.md")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    start = next(i for i, ln in enumerate(out) if ln.startswith("VERDICT"))
    assert out[start - 1].endswith("skipped")  # the case counts, then the verdict
    assert len(out) - start <= 25
    assert max(len(ln) for ln in out) <= 100  # fits a terminal (--wide: every setting)
    table = out[start + 1:start + 14]
    assert table[2].startswith("gem(N=1)") and table[-1].startswith("relu")
    gem = table[2].split()
    assert gem[1:3] == ["1.64", "tcf"] and gem[3:5] == ["1.60", "tcf"]  # fwd, fwd+bwd
    assert out[-2].endswith("reports/r.md") and out[-1] == f"results: {MAIN_SAMPLE}"


MODELS_SAMPLE = ROOT / "reports" / "samples" / "models-results.jsonl"


@pytest.mark.skipif(not MODELS_SAMPLE.exists(), reason="no committed models sample")
def test_a_run_of_blocks_only_ends_with_its_verdict(capsys):
    """A suite without elementwise cases (whole models, gated blocks) has no activation rows:
    the verdict speaks of its blocks (a gated_mlp run once ended in a traceback here)."""
    assert print_summary(MODELS_SAMPLE, None) == 0
    out = capsys.readouterr().out.strip().splitlines()
    start = next(i for i, ln in enumerate(out) if ln.startswith("VERDICT on cpu, float32"))
    assert any(ln.startswith("gem(N=1)") for ln in out[start:])
    assert max(len(ln) for ln in out) <= 100


def _case(backend: str, activation: str, samples: list[float], anchor: list[float]) -> CaseRecord:
    s = np.asarray(samples)
    return CaseRecord.from_json({
        "case_id": f"{backend}/{activation}", "backend": backend, "activation": activation,
        "label": activation, "status": "ok", "numel": 4, "shape": [4], "cache": "hot",
        "timing": {"median": float(np.median(s)), "q1": float(np.percentile(s, 25)),
                   "q3": float(np.percentile(s, 75)), "samples": samples,
                   "anchor": {"median": float(np.median(anchor)), "samples": anchor}}})


def test_fastest_relu_through_the_same_round_anchor_chain():
    # the machine drifts 2x between rounds: ratios of medians across cases would be noisy,
    # per-round ratios to the anchor are not
    drift = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    anchor = [1.0 * d for d in drift]
    best_relu = _case("torch_compile", "relu", [0.5 * d for d in drift], anchor)
    gem = _case("torch_compile", "gem", [0.6 * d for d in drift], anchor)
    costs = cost_frame([best_relu, gem])
    row = costs[costs["activation"] == "gem"].iloc[0]
    assert bool(row["chain"])
    assert row["cross"] == pytest.approx(1.2)
    assert row["cross_q1"] == pytest.approx(1.2) and row["cross_q3"] == pytest.approx(1.2)
    # without the anchor: a ratio of medians with the spread of sample pairs
    plain = [copy.deepcopy(c) for c in (best_relu, gem)]
    for c in plain:
        c.timing.anchor = None
    row = cost_frame(plain)[lambda d: d["activation"] == "gem"].iloc[0]
    assert not bool(row["chain"]) and row["cross_q3"] - row["cross_q1"] > 0.3


def test_a_busy_case_is_never_the_best_when_a_quiet_one_exists() -> None:
    import pandas as pd

    from gembench.report.verdict import _best_per_label

    sub = pd.DataFrame({"label": ["gem(N=1)"] * 2, "backend": ["numpy", "torch_compile"],
                        "activation": ["gem"] * 2, "cross": [0.09, 1.08],
                        "busy": [True, False]})
    assert list(_best_per_label(sub)["backend"]) == ["torch_compile"]
    # all busy: the lowest, unless impossible (0.09x the fastest ReLU is below any activation)
    assert list(_best_per_label(sub.assign(busy=True))["backend"]) == ["torch_compile"]
    assert list(_best_per_label(sub.assign(busy=True, cross=[0.9, 1.08]))["backend"]) == [
        "numpy"]
