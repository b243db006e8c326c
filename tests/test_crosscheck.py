"""The wide crosscheck: ok hot cases of a results file re-timed with torch.utils.benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gembench.engine.crosscheck import crosscheck, summary
from gembench.engine.group import measure_one
from gembench.engine.policy import Timing
from gembench.plan.cases import Case
from gembench.results import ResultsWriter


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
    from gembench.engine import crosscheck as cc

    data = Path(__file__).parent / "data" / "results-small.jsonl"  # v1: no hot cases
    assert cc.main(str(data), "backend=numpy") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no ok hot case" in err[0] and "backend=numpy" in err[0]
