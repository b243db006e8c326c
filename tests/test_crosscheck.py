"""The wide crosscheck: ok hot cases of a results file re-timed with torch.utils.benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_reliability_surface import records, v2, write

from gembench.cli import main
from gembench.crosscheck import crosscheck, summary
from gembench.engine.running.group import measure_one
from gembench.results import ResultsWriter
from gembench.spec.cases import Case
from gembench.spec.policy import Timing


@pytest.mark.slow
def test_hot_ok_cases_are_retimed_in_fresh_processes(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    w = ResultsWriter(path)
    w.append({"kind": "run", "schema": 2})
    timing = Timing(budget_s=0.05, min_samples=5, warmup=1, error_elements=4096)
    for cache in ("hot", "cold"):
        case = Case(backend="torch_eager", activation="gelu", shape=(1 << 16,), cache=cache)
        out = measure_one(case, timing, 0)
        w.append({"kind": "case", **case.record_fields(), **out.to_json()})
    w.append({"kind": "case", **Case(backend="numpy", activation="gem").record_fields(),
              "status": "failed", "reason": "x"})
    rows = crosscheck(path, min_run_time=0.05, progress=False)
    assert [r.case_id.rsplit("/", 1)[1] for r in rows] == ["hot"]  # ok hot cases only
    (row,) = rows
    assert row.torch_benchmark_s and row.torch_benchmark_s > 0, row.note
    assert row.ratio is not None and 0.05 < row.ratio < 20
    assert summary(rows)["cases"] == 1
    assert json.loads(path.read_text().splitlines()[1])["cache"] == "hot"


def test_nothing_to_recheck_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    import gembench.crosscheck as cc

    data = Path(__file__).parent / "data" / "results-small.jsonl"  # v1: no hot cases
    assert cc.main(str(data), "backend=numpy") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no ok hot case" in err[0] and "backend=numpy" in err[0]


# ---- argument mistakes and foreign files (issue 23)


@pytest.mark.parametrize("argv, says", [
    (["missing.jsonl"], "no such file"), (["."], "a directory without"),
    (["{d}"], "nothing to re-time"), (["{f99}"], "schema 99"),
    (["{f}", "--filter", "nokey=1"], "unknown field 'nokey'"),
    (["{f}", "--repeats", "0"], "--repeats"), (["{f}", "--min-run-time", "nan"],
                                               "--min-run-time")])
def test_crosscheck_argument_mistakes_are_one_line(argv: list[str], says: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gembench.crosscheck._in_fresh_process",
                        lambda *a: pytest.fail("re-timed"))
    f = v2(tmp_path / "d" / "results.jsonl")
    recs = records(f)
    recs[0]["schema"] = 99
    f99 = write(tmp_path / "f99.jsonl", recs[:-1], end=False)
    if argv == ["{d}"]:  # a run directory is read; its cases filtered out: one error
        argv = [*argv, "--filter", "backend=nothing"]
    assert main(["crosscheck", *(a.format(d=f.parent, f=f, f99=f99) for a in argv)]) == 2
    assert says in capsys.readouterr().err


def test_crosscheck_of_another_cpus_file_warns(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    recs = records(v2(tmp_path / "v.jsonl"))
    recs[0]["environment"]["cpu"]["brand_raw"] = "Some Other CPU 9000"
    other = write(tmp_path / "other.jsonl", recs[:-1])
    assert main(["crosscheck", str(other), "--filter", "backend=nothing"]) == 2
    err = capsys.readouterr().err
    assert "measured on Some Other CPU 9000 x2, this machine is" in err
