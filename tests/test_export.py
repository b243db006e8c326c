"""``gembench export``: each format validated against a JSON schema written from its
documentation, and its figures checked against the results file.

* github-action-benchmark, ``customSmallerIsBetter``: a JSON array of objects with ``name``
  (string), ``unit`` (string), ``value`` (number), optional ``range`` and ``extra`` (strings)
  (the action's README, "Examples" for custom benchmarks, and its ``BenchmarkResult`` type).
* Bencher Metric Format: the JSON schema on bencher.dev's BMF reference page (benchmark name ->
  measure -> ``{value, lower_value?, upper_value?}`` numbers, ``value`` required), plus the
  documented length limits (benchmark name 1024, measure slug 64 characters).
* pytest-benchmark: its saved-run layout, and pytest-benchmark's own ``compare`` command must
  read the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from gembench.cli import main
from gembench.report.export import export

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"

GITHUB_ACTION_BENCHMARK = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["name", "unit", "value"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "unit": {"type": "string", "minLength": 1},
            "value": {"type": "number"},
            "range": {"type": "string"},
            "extra": {"type": "string"},
        },
        "additionalProperties": False,
    },
}

BMF = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"maxLength": 1024},
    "patternProperties": {
        ".+": {
            "type": "object",
            "propertyNames": {"maxLength": 64},
            "patternProperties": {
                ".+": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "lower_value": {"type": "number"},
                        "upper_value": {"type": "number"},
                    },
                    "required": ["value"],
                    "additionalProperties": False,
                }
            },
        }
    },
}

_STATS = ["min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
          "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total", "iterations"]
PYTEST_BENCHMARK = {
    "type": "object",
    "required": ["machine_info", "commit_info", "benchmarks", "datetime", "version"],
    "properties": {
        "benchmarks": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["group", "name", "fullname", "params", "param", "extra_info",
                             "options", "stats"],
                "properties": {"stats": {"type": "object", "required": _STATS}},
            },
        },
    },
}


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def _ok_cases() -> dict[str, dict]:
    return {r["case_id"]: r for r in _records()[1:] if r["status"] == "ok"}


def test_github_action_benchmark_entries():
    data = export([FIXTURE], "github-action-benchmark")
    jsonschema.validate(data, GITHUB_ACTION_BENCHMARK)
    cases = _ok_cases()
    suffix = " time (carries the machine's drift)"
    times = {e["name"].removesuffix(suffix): e for e in data if e["unit"] == "us"}
    ratios = {e["name"]: e for e in data if e["unit"].startswith("x ReLU")}
    assert set(times) == set(cases)  # every case that ran, none that did not
    # the case's own name carries the drift-free figure; this version-1 file has no anchor,
    # so it is the per-round ratio to the backend's ReLU
    assert set(ratios) == set(cases)
    cid = "elementwise/torch_fused/gem(N=1)/float32/cpu/4096/forward/t1/default"
    assert times[cid]["value"] == pytest.approx(cases[cid]["timing"]["median"] * 1e6)
    assert ratios[cid]["value"] == pytest.approx(
        cases[cid]["timing"]["ratio_to_relu"]["median"])
    extra = times[cid]["extra"]
    assert "median 72.54 µs" in extra
    assert "x ReLU, same backend (q1-q3): 5.38 (5.22–5.47)" in extra
    assert "x fastest ReLU (torch_eager): 28.75" in extra


MAIN_SAMPLE = FIXTURE.parent.parent.parent / "reports" / "samples" / "transformer_mlp-results.jsonl"


@pytest.mark.skipif(not MAIN_SAMPLE.exists(), reason="no committed transformer_mlp sample")
def test_the_primary_entry_is_the_ratio_to_the_anchor_relu():
    """What a dashboard alerts on is drift-free: the per-round ratio to the anchor ReLU."""
    data = export([MAIN_SAMPLE], "github-action-benchmark")
    recs = {r["case_id"]: r for r in map(json.loads, MAIN_SAMPLE.read_text().splitlines())
            if r.get("kind") == "case" and r["status"] == "ok"}
    cid = next(c for c, r in recs.items() if c.startswith("elementwise/")
               and r["timing"].get("ratio_to_anchor") and r["activation"] == "gem")
    (entry,) = [e for e in data if e["name"] == cid]
    assert entry["unit"] == "x anchor ReLU"
    assert entry["value"] == pytest.approx(recs[cid]["timing"]["ratio_to_anchor"]["median"])
    bmf_data = export([MAIN_SAMPLE], "bmf")
    assert bmf_data[cid]["ratio-to-anchor-relu"]["value"] == pytest.approx(entry["value"])


def test_github_action_benchmark_schema_can_fail():
    bad = [{"name": "x", "unit": "us", "value": "1.0"}]  # a value as a string
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, GITHUB_ACTION_BENCHMARK)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"name": "x", "value": 1.0}], GITHUB_ACTION_BENCHMARK)


def test_bmf_measures():
    data = export([FIXTURE], "bmf")
    jsonschema.validate(data, BMF)
    cases = _ok_cases()
    assert set(data) == set(cases)
    cid = "elementwise/torch_fused/gem(N=1)/float32/cpu/4096/forward/t1/default"
    t = cases[cid]["timing"]
    lat = data[cid]["latency"]
    assert (lat["value"], lat["lower_value"], lat["upper_value"]) == pytest.approx(
        (t["median"] * 1e9, t["q1"] * 1e9, t["q3"] * 1e9))
    r = data[cid]["ratio-to-relu"]
    assert (r["value"], r["lower_value"], r["upper_value"]) == pytest.approx(
        (t["ratio_to_relu"]["median"], t["ratio_to_relu"]["q1"], t["ratio_to_relu"]["q3"]))
    assert data[cid]["ratio-to-fastest-relu"]["value"] == pytest.approx(28.75, abs=0.01)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"b": {"latency": {"lower_value": 1.0}}}, BMF)  # no value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"b": {"m" * 65: {"value": 1.0}}}, BMF)  # slug too long


def test_pytest_benchmark_file_reads_in_pytest_benchmark(tmp_path):
    pytest.importorskip("pytest_benchmark")
    out = tmp_path / "0001_gembench.json"
    assert main(["export", str(FIXTURE), "--format", "pytest-benchmark", "--out",
                 str(out)]) == 0
    data = json.loads(out.read_text())
    jsonschema.validate(data, PYTEST_BENCHMARK)
    cases = _ok_cases()
    by_name = {b["name"]: b for b in data["benchmarks"]}
    cid = "elementwise/torch_fused/gem(N=1)/float32/cpu/4096/forward/t1/default"
    st = by_name[cid]["stats"]
    assert st["data"] == cases[cid]["timing"]["samples"]
    assert st["median"] == pytest.approx(cases[cid]["timing"]["median"])
    assert st["rounds"] == len(cases[cid]["timing"]["samples"])
    assert by_name[cid]["extra_info"]["ratio_to_relu"] == pytest.approx(5.3774, abs=1e-4)
    res = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out)],
                         capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "torch_fused/gem(N=1)/float32/cpu/4096/forward" in res.stdout


def test_cli_stdout_and_user_errors(tmp_path, capsys):
    assert main(["export", str(FIXTURE), "--format", "bmf"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), BMF)
    assert main(["export", str(FIXTURE), "--format", "csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gembench: error: --format: expected one of") and "\n" not in err
    assert main(["export", str(tmp_path / "nope.jsonl"), "--format", "bmf"]) == 2
    assert "no such file" in capsys.readouterr().err
