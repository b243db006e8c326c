"""``gembench compare``: a regression needs both the threshold and a significant test."""

from __future__ import annotations

import copy
import io
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gembench.cli import main
from gembench.compare import CompareError, compare_paths, parse_threshold, run_compare
from gembench.decide import compare_cases
from gembench.engine.measuring.timing import summarize
from gembench.results import CaseRecord

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"
N_SAMPLES = 40
SIGMA = 0.02  # log-normal spread of a case's time around its same-round anchor
DRIFT = 0.05  # log-normal spread of the machine's speed from round to round (both run alike)
ANCHOR_S = 1e-4  # the anchor ReLU's time on a quiet machine


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def _rounds(seed: int, level: float) -> np.ndarray:
    """The machine's speed in each round of a run: a run-level factor and round-to-round drift
    that every case of the run shares (what same-round ratios cancel)."""
    return level * np.random.default_rng([seed, 7]).lognormal(0.0, DRIFT, N_SAMPLES)


def _base_samples(rec: dict, seed: int, speed: np.ndarray) -> np.ndarray:
    """Samples drawn around the case's recorded median, reproducibly per case and seed, in the
    run's rounds."""
    rng = np.random.default_rng([seed, zlib.crc32(rec["case_id"].encode())])
    return rec["timing"]["median"] * speed * rng.lognormal(0.0, SIGMA, N_SAMPLES)


def _write(path: Path, seed: int,
           change: Callable[[dict, np.ndarray], np.ndarray] = lambda rec, s: s,
           run_edit: Callable[[dict], None] = lambda run: None, level: float = 1.0) -> Path:
    """A results file whose ok cases carry ``N_SAMPLES`` rounds of their own samples and of the
    anchor ReLU timed in the same rounds; ``level`` slows the whole machine (a run-level
    shift)."""
    recs = copy.deepcopy(_records())
    run_edit(recs[0])
    speed = _rounds(seed, level)
    for rec in recs[1:]:
        if rec["status"] != "ok":
            continue
        samples = change(rec, _base_samples(rec, seed, speed))
        rec["timing"].update(summarize(list(samples)))
        rec["timing"]["anchor"] = summarize(list(ANCHOR_S * speed))
        if rec["timing"].get("relu") and rec["activation"] != "relu":
            relu = _base_samples({"case_id": "relu/" + rec["case_id"],
                                  "timing": rec["timing"]["relu"]}, seed, speed)
            rec["timing"]["relu"] = summarize(list(relu))
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


# The same seed draws the same samples, so "noise" is a second draw (another seed) and a
# change is the base draw transformed.
def _regress(case_id: str, factor: float):
    return lambda rec, s: s * factor if rec["case_id"] == case_id else s


TARGET = "elementwise/torch_fused/gem(N=1)/float32/cpu/262144/forward/t1/default"


def test_planted_30_percent_regression_fails(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=1, change=_regress(TARGET, 1.3))
    out = io.StringIO()
    assert run_compare(base, new, "10%", file=out, err=io.StringIO()) == 1
    cmp = compare_paths(base, new)
    assert [c.case_id for c in cmp.regressions] == [TARGET]
    (reg,) = cmp.regressions
    assert reg.change == pytest.approx(0.3)
    assert reg.p_slower < 0.01
    assert "REGRESSION" in out.getvalue() and "+30.0%" in out.getvalue()


def test_a_run_level_shift_is_no_regression_in_ratios_but_is_in_raw_time(tmp_path):
    """The whole machine 15% slower in NEW (another runner, a neighbour): the anchor-normalised
    figures see nothing; raw times see every case slower."""
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=2, level=1.15)
    assert not compare_paths(base, new).regressions
    assert not compare_paths(base, new, metric="relu").regressions
    raw = compare_paths(base, new, metric="time")
    assert raw.shift == pytest.approx(0.15, abs=0.05)
    assert len(raw.regressions) > 0.9 * len(raw.changes)  # why raw time is not the default
    # with a planted 30% slowdown on top, the ratio figures find that case and only that one
    planted = _write(tmp_path / "planted.jsonl", seed=2, level=1.15,
                     change=_regress(TARGET, 1.3))
    assert [c.case_id for c in compare_paths(base, planted).regressions] == [TARGET]


def test_noise_is_not_a_regression(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=2)  # resampled from the same distributions
    assert run_compare(base, new, "10%", file=io.StringIO(), err=io.StringIO()) == 0
    cmp = compare_paths(base, new)
    assert len(cmp.changes) == 36
    assert not cmp.regressions


def test_five_percent_below_ten_percent_threshold(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=1, change=lambda rec, s: s * 1.05)
    cmp = compare_paths(base, new, threshold=0.10)
    assert not cmp.regressions
    # significant (every sample moved) but below the threshold
    assert all(c.p_slower < 0.01 for c in cmp.changes)
    assert all(c.verdict == "within threshold" for c in cmp.changes)
    assert run_compare(base, new, "10%", file=io.StringIO(), err=io.StringIO()) == 0
    # the same change with a 3 % threshold is a regression everywhere
    assert len(compare_paths(base, new, threshold=0.03).regressions) == 36


def test_large_change_without_significance_is_not_a_regression():
    def rec(samples):
        return CaseRecord.from_json({"case_id": "c", "status": "ok",
                                     "timing": {**summarize(samples)}})

    base = [rec([1.0, 1.6, 1.0, 1.5, 1.1])]
    new = [rec([1.3, 1.0, 1.7, 1.5, 1.4])]  # median +27 %, but the samples overlap
    cmp = compare_cases(base, new, threshold=0.10, alpha=0.01, metric="time")
    (c,) = cmp.changes
    assert c.change > 0.10
    assert c.p_slower > 0.01
    assert c.verdict == "changed, within run-to-run noise"
    assert not cmp.regressions


def test_improvement_is_reported_not_failed(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=1, change=_regress(TARGET, 0.7))
    cmp = compare_paths(base, new)
    assert not cmp.regressions
    assert [c.case_id for c in cmp.improvements] == [TARGET]


def test_environment_difference_warns(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)

    def other_machine(run):
        run["environment"]["cpu"]["brand_raw"] = "Intel Xeon"
        run["environment"]["packages"]["torch"] = "2.5.0"

    new = _write(tmp_path / "new.jsonl", seed=2, run_edit=other_machine)
    err = io.StringIO()
    assert run_compare(base, new, file=io.StringIO(), err=err) == 0
    text = err.getvalue()
    assert "environments differ" in text
    assert "CPU model: 'AMD EPYC' -> 'Intel Xeon'" in text
    assert "torch version" in text


def test_cases_only_in_one_run_and_status_changes():
    recs = _records()
    base = recs[1:]
    new = copy.deepcopy(recs[1:-3])  # drops the last three (skipped, skipped, failed)
    new[0] = {**new[0], "status": "failed", "reason": "boom"}
    cmp = compare_cases([CaseRecord.from_json(r) for r in base],
                        [CaseRecord.from_json(r) for r in new])
    assert len(cmp.only_base) == 3
    assert cmp.status_changes == [(new[0]["case_id"], "ok", "failed", "boom")]


def test_cli_exit_codes(tmp_path, capsys):
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    _write(base_dir / "results.jsonl", seed=1)  # a run directory works as well as a file
    new = _write(tmp_path / "new.jsonl", seed=1, change=_regress(TARGET, 1.3))
    assert main(["compare", str(base_dir), str(new), "--threshold", "10%"]) == 1
    assert "torch_fused gem(N=1) float32 262144 forward" in capsys.readouterr().out
    assert main(["compare", str(base_dir), str(new), "--threshold", "40%"]) == 0
    capsys.readouterr()
    assert main(["compare", str(base_dir), str(new), "--threshold", "ten"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gembench: error: --threshold") and len(err.strip().splitlines()) == 1
    assert main(["compare", str(base_dir), str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), ("10", 0.10), (" 2.5% ", 0.025),
                                             ("0", 0.0)])
def test_parse_threshold(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "%", "ten", "-5%", "nan"])
def test_parse_threshold_rejects(text):
    with pytest.raises(CompareError):
        parse_threshold(text)


def test_interval_covers_a_planted_change_and_noise_covers_zero(tmp_path):
    base = _write(tmp_path / "base.jsonl", seed=1)
    new = _write(tmp_path / "new.jsonl", seed=2, change=_regress(TARGET, 1.3))
    cmp = compare_paths(base, new)
    by_id = {c.case_id: c for c in cmp.changes}
    planted = by_id[TARGET]
    # two independent draws, the second scaled by 1.3: the interval holds +30%, not 0
    assert planted.low < 0.30 < planted.high
    assert planted.low > 0.15
    # every other case is noise: about 95% of their intervals hold 0 (35 cases)
    others = [c for cid, c in by_id.items() if cid != TARGET]
    covered = sum(c.low <= 0.0 <= c.high for c in others)
    assert covered >= 0.8 * len(others)
    # the interval is printed beside the test
    out = io.StringIO()
    run_compare(base, new, file=out, err=io.StringIO())
    assert "change (95% interval)" in out.getvalue()
    assert f"({planted.low:+.1%} to {planted.high:+.1%})" in out.getvalue()


def test_hodges_lehmann_by_hand():
    from gembench.stats import hodges_lehmann

    base = np.array([1.0, 2.0, 4.0])
    new = 2 * base  # every sample doubled: every log-ratio pair median is log 2
    est, low, high = hodges_lehmann(base, new)
    assert est == pytest.approx(1.0)
    assert low <= 1.0 <= high
    assert np.isnan(hodges_lehmann(base[:2], new[:2])[0])  # too few samples
