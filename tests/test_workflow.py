"""The GitHub Actions workflow, checked with a real validator (check-jsonschema's vendored
GitHub workflow schema), which must also reject a broken copy."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "ci.yml"


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
         "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def test_workflow_is_valid():
    res = _validate(WORKFLOW)
    assert res.returncode == 0, res.stdout + res.stderr


def _drop_runs_on(wf: dict) -> None:
    for job in wf["jobs"].values():
        job.pop("runs-on")


def _steps_not_a_list(wf: dict) -> None:
    next(iter(wf["jobs"].values()))["steps"] = "tox -e test"


def _step_with_run_and_uses(wf: dict) -> None:
    next(iter(wf["jobs"].values()))["steps"][0]["run"] = "echo both"


def _unknown_job_key(wf: dict) -> None:
    next(iter(wf["jobs"].values()))["runs_on"] = "ubuntu-latest"


@pytest.mark.parametrize("breakage", [_drop_runs_on, _steps_not_a_list, _step_with_run_and_uses,
                                      _unknown_job_key])
def test_broken_workflow_is_rejected(tmp_path, breakage):
    wf = copy.deepcopy(_load(WORKFLOW))
    breakage(wf)
    broken = tmp_path / "ci.yml"
    broken.write_text(yaml.safe_dump(wf, sort_keys=False))
    res = _validate(broken)
    assert res.returncode != 0, f"{breakage.__name__} was accepted:\n{res.stdout}"


def test_unbroken_round_trip_still_valid(tmp_path):
    """The rejection above is due to the breakage, not to the YAML round trip."""
    copy_path = tmp_path / "ci.yml"
    copy_path.write_text(yaml.safe_dump(_load(WORKFLOW), sort_keys=False))
    res = _validate(copy_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_workflow_runs_tests_bench_and_publishes_the_report():
    wf = _load(WORKFLOW)
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "tox -e test" in runs
    assert "tox -e bench-cpu" in runs
    assert "GITHUB_STEP_SUMMARY" in runs
    upload = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload and "reports/" in upload[0]["with"]["path"].split()
    assert upload[0].get("if") == "always()"


def _steps() -> list[dict]:
    return [s for job in _load(WORKFLOW)["jobs"].values() for s in job["steps"]]


def test_workflow_publishes_html_exports_and_feeds_github_action_benchmark():
    steps = _steps()
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "--html reports/smoke.html" in runs
    assert "gembench export" in runs
    for fmt in ("github-action-benchmark", "bmf", "pytest-benchmark"):
        assert fmt in runs
    upload = next(s for s in steps if str(s.get("uses", "")).startswith(
        "actions/upload-artifact@"))
    paths = upload["with"]["path"].split()
    for want in ("reports/", "reports/smoke.html", "reports/exports/",
                 "reports/test-artifacts/"):
        assert want in paths
    gab = next(s for s in steps if str(s.get("uses", "")).startswith(
        "benchmark-action/github-action-benchmark@"))
    assert gab["with"]["tool"] == "customSmallerIsBetter"
    assert gab["with"]["output-file-path"] == "reports/exports/github-action-benchmark.json"
    assert "--out \"reports/exports/$fmt.json\"" in runs


def test_job_summary_starts_with_the_verdict(tmp_path):
    """Run the summary step's own script on a real report: the summary's first heading is the
    verdict."""
    from gembench.report.markdown import write_report

    fixture = Path(__file__).parent / "data" / "results-small.jsonl"
    (tmp_path / "reports").mkdir()
    write_report([fixture], tmp_path / "reports" / "smoke-1.md")
    step = next(s for s in _steps() if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    summary = tmp_path / "summary.md"
    res = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=False,
                         env={"GITHUB_STEP_SUMMARY": str(summary), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in summary.read_text().splitlines() if ln.strip()]
    assert lines[0] == "## Verdict"
    assert not any(ln.startswith("![") for ln in lines)
