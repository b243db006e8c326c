"""The results file: append-only JSON lines, torn lines ignored, a tidy long table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gembench.results import SCHEMA_VERSION, ResultsWriter, read, tidy

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"


def test_tidy_table_has_one_row_per_case_and_metric_with_units() -> None:
    df = tidy(read(FIXTURE).cases)
    cases = read(FIXTURE).cases
    ok = [c for c in cases if c["status"] == "ok"]
    first = ok[0]
    rows = df[df.case_id == first["case_id"]].set_index("metric")
    assert rows.loc["median", "value"] == pytest.approx(first["timing"]["median"])
    assert rows.loc["median", "unit"] == "s"
    assert rows.loc["ratio_to_relu", "unit"] == "x"
    assert rows.loc["bandwidth_fraction", "unit"] == "fraction"
    assert not rows.index.duplicated().any()
    failed = next(c for c in cases if c["status"] == "failed")
    frow = df[df.case_id == failed["case_id"]]
    assert list(frow.metric) == ["status"] and frow.iloc[0].reason == failed["reason"]
    assert set(df.case_id) == {c["case_id"] for c in cases}


def test_torn_last_line_is_ignored_and_last_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    w = ResultsWriter(path)
    w.append({"kind": "run", "schema": SCHEMA_VERSION})
    w.append({"kind": "case", "case_id": "a", "status": "failed", "reason": "x"})
    w.append({"kind": "case", "case_id": "a", "status": "failed", "reason": "y"})
    with path.open("a") as fh:
        fh.write('{"kind": "case", "case_id": "b", "sta')  # killed mid-write
    _, run, cases = read(path)
    assert run["schema"] == SCHEMA_VERSION
    assert [(c["case_id"], c["reason"]) for c in cases] == [("a", "y")]


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "run", "schema": SCHEMA_VERSION + 1}) + "\n")
    with pytest.raises(ValueError, match="schema"):
        read(path)
