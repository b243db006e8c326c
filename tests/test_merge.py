"""``gembench merge``: shards merge back into the whole suite; machines are never pooled;
mismatched runs are refused unless forced; duplicates on one machine keep the last."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import RUN_OK

from gembench.plan.suite import load_suite
from gembench.results import read_records
from gembench.results.merge import MergeError, merge

ROOT = Path(__file__).resolve().parent.parent
TINY = """activations: [gelu]
backends: [numpy, torch_eager]
shapes: [1K]
dtypes: [float32, float64]
passes: [forward, backward]
cache: [hot]
timing: {budget_s: 0.005, min_samples: 3, warmup: 1, timeout_s: 60}
"""


def _gembench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gembench", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def _env(cpu: str = "AMD EPYC", cores: int = 2, commit: str = "abc1234",
         gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cpu": {"brand_raw": cpu}, "logical_cores": cores, "gpu": gpu,
            "git": {"commit": commit, "dirty": False}}


def _write(path: Path, cases: list[tuple[str, float]], *, suite: str = "s1", schema: int = 1,
           **env: Any) -> Path:
    run = {"kind": "run", "schema": schema, "suite": "t", "suite_sha256": suite,
           "started": str(path), "environment": _env(**env)}
    lines = [run] + [{"kind": "case", "case_id": cid, "status": "ok",
                      "timing": {"median": med}} for cid, med in cases]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def _cases(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_records(path) if r.get("kind") == "case"]


@pytest.mark.slow
def test_shards_merged_equal_the_whole_suite(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(TINY)
    for i in (1, 2, 3):
        res = _gembench("run", str(suite), "--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}"),
                        "--no-progress")
        assert res.returncode in RUN_OK, res.stderr
    res = _gembench("merge", *(str(tmp_path / f"s{i}") for i in (1, 2, 3)),
                    "--out", str(tmp_path / "merged"))
    assert res.returncode == 0, res.stderr
    assert "16 case(s) from 1 machine(s)" in res.stdout
    merged = tmp_path / "merged" / "results.jsonl"
    runs = [r for r in read_records(merged) if r.get("kind") == "run"]
    assert sorted(r["shard"] for r in runs) == ["1/3", "2/3", "3/3"]
    cases = _cases(merged)
    expected = {c.case_id for c in load_suite(suite).cases}
    assert Counter(c["case_id"] for c in cases) == Counter(expected)
    assert all(c["status"] == "ok" for c in cases)
    assert {c["run_id"] for c in cases} <= {r["run_id"] for r in runs}
    assert {c["machine_key"] for c in cases} == {runs[0]["machine_key"]}


def test_machines_are_never_pooled(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [("x", 1.0), ("y", 2.0)], cpu="AMD EPYC")
    b = _write(tmp_path / "b.jsonl", [("x", 5.0)], cpu="Intel Xeon")
    done = merge([a, b], tmp_path / "m")
    assert len(done.machines) == 2 and not done.duplicates
    cases = _cases(done.path)
    by = {(c["machine_key"], c["case_id"]): c["timing"]["median"] for c in cases}
    assert sorted(by.values()) == [1.0, 2.0, 5.0]  # x kept once per machine
    runs = [r for r in read_records(done.path) if r.get("kind") == "run"]
    assert {r["machine"]["cpu"] for r in runs} == {"AMD EPYC", "Intel Xeon"}
    assert {r["merged_from"] for r in runs} == {str(a), str(b)}


def test_gpu_and_driver_are_part_of_the_machine(tmp_path: Path) -> None:
    h100 = {"name": "NVIDIA H100", "driver": "550.54"}
    a = _write(tmp_path / "a.jsonl", [("x", 1.0)], gpu=h100)
    b = _write(tmp_path / "b.jsonl", [("x", 2.0)], gpu={**h100, "driver": "560.1"})
    assert len(merge([a, b], tmp_path / "m").machines) == 2


def test_duplicate_on_one_machine_keeps_the_last_and_says_so(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [("x", 1.0), ("y", 2.0)])
    b = _write(tmp_path / "b.jsonl", [("x", 3.0)])
    done = merge([a, b], tmp_path / "m")
    assert [(d[0], d[2]) for d in done.duplicates] == [("x", b)]
    assert {c["case_id"]: c["timing"]["median"] for c in _cases(done.path)} == {"x": 3.0,
                                                                               "y": 2.0}
    res = _gembench("merge", str(a), str(b), "--out", str(tmp_path / "m2"))
    assert res.returncode == 0
    assert "merge: x measured more than once on machine" in res.stderr and str(b) in res.stderr


@pytest.mark.parametrize(("other", "what"), [
    ({"suite": "s2"}, "suite sha256"),
    ({"schema": 2}, "schema version"),
    ({"commit": "def5678"}, "commit"),
])
def test_mismatched_runs_are_refused_unless_forced(tmp_path: Path, other: dict[str, Any],
                                                   what: str) -> None:
    a = _write(tmp_path / "a.jsonl", [("x", 1.0)])
    b = _write(tmp_path / "b.jsonl", [("y", 1.0)], **other)
    with pytest.raises(MergeError, match=f"{what} .*refusing to merge"):
        merge([a, b], tmp_path / "m")
    assert not (tmp_path / "m" / "results.jsonl").exists()
    done = merge([a, b], tmp_path / "m", force=True)
    assert done.cases == 2


def test_refusal_is_a_one_line_user_error(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [("x", 1.0)])
    b = _write(tmp_path / "b.jsonl", [("y", 1.0)], suite="s2")
    res = _gembench("merge", str(a), str(b), "--out", str(tmp_path / "m"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gembench: error: merge: {b}: suite sha256")
    assert "--force" in lines[0]


def test_not_a_results_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "case", "case_id": "x"}\n')
    with pytest.raises(MergeError, match="no run record"):
        merge([bad], tmp_path / "m")
    with pytest.raises(MergeError, match="no such results file"):
        merge([tmp_path / "missing"], tmp_path / "m")


def test_a_merged_file_merges_again(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [("x", 1.0)], cpu="AMD EPYC")
    b = _write(tmp_path / "b.jsonl", [("x", 2.0)], cpu="Intel Xeon")
    c = _write(tmp_path / "c.jsonl", [("x", 3.0)], cpu="AMD EPYC")
    first = merge([a, b], tmp_path / "m1")
    again = merge([first.path, c], tmp_path / "m2")
    assert set(again.machines) == set(first.machines)
    by = {c["machine_key"]: c["timing"]["median"] for c in _cases(again.path)}
    assert sorted(by.values()) == [2.0, 3.0]
    assert [d[0] for d in again.duplicates] == ["x"]


def test_example_matrix_workflow_is_valid_and_shards_then_merges() -> None:
    import yaml

    example = ROOT / "examples" / "scaleout" / "github-matrix.yml"
    res = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                          "vendor.github-workflows", str(example)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    wf = yaml.safe_load(example.read_text())
    shards = wf["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    runs = " ".join(s.get("run", "") for s in wf["jobs"]["shard"]["steps"])
    assert "--shard ${{ matrix.shard }}/$SHARDS" in runs
    merge_runs = " ".join(s.get("run", "") for s in wf["jobs"]["merge"]["steps"])
    assert wf["jobs"]["merge"]["needs"] == "shard" and "gembench merge" in merge_runs


def test_a_multi_node_run_keeps_each_nodes_machine(tmp_path: Path) -> None:
    from gembench.results.merge import fingerprint, machine_key

    src = _write(tmp_path / "ray.jsonl", [])
    nodes = [fingerprint(_env(cpu=cpu)) for cpu in ("AMD EPYC", "Intel Xeon")]
    with src.open("a") as fh:
        for med, fp in zip((1.0, 2.0), nodes):
            fh.write(json.dumps({"kind": "case", "case_id": "x", "status": "ok",
                                 "timing": {"median": med}, "machine_key": machine_key(fp),
                                 "machine": fp}) + "\n")
    done = merge([src], tmp_path / "m")
    assert set(done.machines) >= {machine_key(fp) for fp in nodes} and not done.duplicates
    assert sorted(c["timing"]["median"] for c in _cases(done.path)) == [1.0, 2.0]
