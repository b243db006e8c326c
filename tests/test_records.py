"""The typed results records: version-1 files load, records round-trip, the schema document
is generated from the types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gembench.results import read
from gembench.results.records import CaseRecord, RatioStats, RunRecord, Stats
from gembench.results.schema_doc import DOC_PATH, ORDER, field_docs, render
from gembench.results.store import read_records

ROOT = Path(__file__).resolve().parents[1]


def _schema(path: Path) -> object:
    with path.open(encoding="utf-8") as fh:
        return json.loads(fh.readline()).get("schema")


SAMPLES = sorted((ROOT / "reports" / "samples").glob("*.jsonl"))
V1_FILES = [*(p for p in SAMPLES if _schema(p) == 1),
            ROOT / "tests" / "data" / "results-small.jsonl"]
assert len(V1_FILES) >= 4  # the committed version-1 samples are still there


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: p.name)
def test_version_1_files_load_as_typed_records(path: Path) -> None:
    _, run, cases = read(path)
    assert isinstance(run, RunRecord) and run.schema == 2 and run.migrated_from == 1
    assert cases and all(isinstance(c, CaseRecord) for c in cases)
    raw = [r for r in read_records(path) if r.get("kind") == "case"]
    assert {c.case_id for c in cases} == {r["case_id"] for r in raw}
    for c in cases:
        assert c.cache == "mixed"
        if c.status == "ok":
            assert isinstance(c.timing.ratio_to_relu, RatioStats)
            assert c.timing.q1 <= c.timing.median <= c.timing.q3
            assert c.timing.samples is None or len(c.timing.samples) == c.timing.count
            assert c.error is not None and c.error.forward_tol is not None


def test_case_record_round_trips_through_json() -> None:
    raw = [r for r in read_records(V1_FILES[-1]) if r.get("kind") == "case"]
    for rec in raw:
        rec = {**rec, "cache": "hot", "unknown_future_key": {"a": 1}}
        assert CaseRecord.from_json(rec).to_json() == _without_nulls(rec)


def _without_nulls(d: dict) -> dict:
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in d.items()
            if v is not None}


def test_stats_from_samples_is_the_one_summary() -> None:
    s = Stats.from_samples([4.0, 1.0, 3.0, 2.0], number=7)
    assert (s.median, s.min, s.count, s.number) == (2.5, 1.0, 4, 7)
    assert s.iqr == pytest.approx(s.q3 - s.q1) and s.samples == [4.0, 1.0, 3.0, 2.0]
    r = RatioStats.per_round([2.0, 4.0, 6.0], [1.0, 2.0, 2.0])
    assert (r.median, r.count) == (2.0, 3)


def test_dict_style_reads_still_work_during_the_transition() -> None:
    cases = read(V1_FILES[-1]).cases
    c = next(c for c in cases if c.status == "ok")
    assert c["timing"]["median"] == c.timing.median and c["pass"] == c.pass_
    assert c.get("block") is None and c.get("block", {}) == {}


def test_every_field_is_documented_and_the_document_is_current() -> None:
    for cls in ORDER:
        for key, _type, text in field_docs(cls):
            assert text.strip(), f"{cls.__name__}.{key} has no doc"
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/results-schema.md is stale: run python -m gembench.results.schema_doc")


def test_unreadable_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "run", "schema": 99}) + "\n")
    with pytest.raises(ValueError, match="schema 99"):
        read(path)


@pytest.mark.parametrize("path", [p for p in SAMPLES if _schema(p) == 2], ids=lambda p: p.name)
def test_version_2_samples_load_as_typed_records(path: Path) -> None:
    _, run, cases = read(path)
    assert isinstance(run, RunRecord) and run.schema == 2 and run.migrated_from is None
    assert cases and all(isinstance(c, CaseRecord) and c.cache in ("hot", "cold") for c in cases)
