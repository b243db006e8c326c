"""``gembench ab`` (BASE and NEW side by side) and ``compare`` find a planted slowdown and
nothing else (issue 19)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gembench.ab import pairs, run_ab
from gembench.cli import main
from gembench.plan.suite import load_suite
from gembench.results.records import CaseRecord

PLUGIN = Path(__file__).parent / "plugins" / "ab_plugin.py"
SUITE = f"""
activations: [gem]
backends: [ab_gem_slow]
shapes: [64K]
passes: [forward]
cache: hot
plugins: [{PLUGIN}]
timing: {{budget_s: 0.05, min_samples: 12, warmup: 1, min_sample_time_s: 0.001,
         hot_warmup_s: 0.002}}
"""


def _rec(backend: str, act: str, samples: np.ndarray, group: str) -> CaseRecord:
    cid = f"elementwise/{backend}/{act}/float32/cpu/1048576/forward/t1/caching/hot"
    return CaseRecord.from_json({
        "kind": "case", "case_id": cid, "backend": backend, "activation": act, "label": act,
        "shape": [1 << 20], "status": "ok",
        "timing": {"median": float(np.median(samples)), "samples": list(map(float, samples)),
                   "group_id": group}})


def test_pairs_find_a_planted_five_percent_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    acts = [f"a{i}" for i in range(20)]
    runs = []
    for r in range(3):
        cases = []
        for act in acts:
            speed = rng.lognormal(0, 0.2, 30)  # the machine, shared by both in a round
            base = 1e-3 * speed * rng.lognormal(0, 0.02, 30)
            new = 1e-3 * speed * rng.lognormal(0, 0.02, 30) * (1.05 if act == "a7" else 1.0)
            cases += [_rec("base", act, base, f"g{r}{act}"), _rec("new", act, new, f"g{r}{act}")]
        runs.append(cases)
    got = {p.label.split()[0]: p for p in pairs(runs, "base", "new")}
    assert len(got) == 20
    assert got["a7"].verdict == "NEW SLOWER" and got["a7"].low > 0
    assert got["a7"].estimate == pytest.approx(0.05, abs=0.02)
    assert [k for k, p in got.items() if p.verdict == "NEW SLOWER"] == ["a7"]
    assert all(p.high - p.low < 0.06 for p in got.values())


@pytest.mark.slow
@pytest.mark.usefixtures("registry")
def test_ab_and_compare_find_the_slowed_implementation_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    suite_file = tmp_path / "ab.yaml"
    suite_file.write_text(SUITE)
    # ab_gem_slow does its work 8 times: a slowdown a busy CI runner cannot hide (with the work
    # done twice, one run there read +72%, 95% interval -10% to +226%). How small a slowdown the
    # statistics find is tested on planted data above and measured by benchmarks/aa_benchmark.py.
    monkeypatch.setenv("GEMBENCH_TEST_SLOWDOWN", "7")
    suite = load_suite(str(suite_file))
    out = io.StringIO()
    # alpha 0.001: the ReLU twins (one kernel on both sides) are an A/A pair, flagged at the
    # default 0.05 in about one run in 40 on a loaded runner. 5 repeats: in a fresh tox
    # environment one run of 3 repeats estimated the slowdown at +375% (95% interval +87% to
    # +1110%) and still missed 0.001, its run-to-run spread pooled with the ReLU pair's
    rc = run_ab(suite, "ab_gem", "ab_gem_slow", tmp_path / "ab", repeats=5, progress=False,
                file=out, alpha=0.001)
    text = out.getvalue()
    assert rc == 1, text
    slower = [ln for ln in text.splitlines() if ln.endswith("NEW SLOWER") and "pairs:" not in ln]
    assert len(slower) == 1 and slower[0].startswith("gem(N=1)"), text
    # the twin of the same kernel under another name: nothing
    out = io.StringIO()
    assert run_ab(suite, "ab_gem", "ab_gem_twin", tmp_path / "aa", repeats=2, progress=False,
                  file=out, alpha=0.001) == 0, out.getvalue()
    # compare: the same implementation run twice, its second run slowed
    monkeypatch.setenv("GEMBENCH_TEST_SLOWDOWN", "0")
    # exit 3: the run's figures were withheld as busy (a loaded CI runner); the records stand
    assert main(["run", str(suite_file), "--out", str(tmp_path / "base"),
                 "--no-progress"]) in (0, 3)
    monkeypatch.setenv("GEMBENCH_TEST_SLOWDOWN", "7")
    assert main(["run", str(suite_file), "--out", str(tmp_path / "new"),
                 "--no-progress"]) in (0, 3)
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--alpha", "0.001"]) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "REGRESSION" in ln]
    assert len(lines) == 1 and "ab_gem_slow gem(N=1)" in lines[0]
