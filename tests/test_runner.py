"""Runner behaviour: crashes, hangs and errors stay in their case; --resume loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import RUN_OK

from gembench.results import read, read_records

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ENV = {
    "GEMBENCH_BACKENDS": "misbehaving=misbehaving_backend:MisbehavingBackend",
    "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]),
}
FAST = "timing: {budget_s: 0.01, min_samples: 3, warmup: 1, timeout_s: %s}\n"


def _gembench(args: list[str], env: dict[str, str] | None = None, **kw):
    return subprocess.run([sys.executable, "-m", "gembench", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})}, **kw)


@pytest.mark.slow
def test_crash_hang_and_error_are_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text("activations: [gelu, silu, mish, gem]\nbackends: [misbehaving]\n"
                     "shapes: [1K]\npasses: [forward]\ncache: hot\n" + FAST % 20)
    res = _gembench(["run", str(suite), "--out", str(tmp_path / "out"), "--no-progress"],
                    env=PLUGIN_ENV, timeout=300)
    assert res.returncode == 1, res.stderr  # some cases failed
    cases = read(tmp_path / "out" / "results.jsonl").cases
    by = {c["label"]: c for c in cases}
    assert by["gelu"]["status"] == "failed" and "died" in by["gelu"]["reason"]
    assert "out of memory" in by["gelu"]["reason"]
    assert by["silu"]["status"] == "failed" and "timed out after 20 s" in by["silu"]["reason"]
    assert by["mish"]["status"] == "failed" and "broken on purpose" in by["mish"]["reason"]
    assert by["gem(N=1)"]["status"] == "ok" and by["relu"]["status"] == "ok"
    assert by["gem(N=1)"]["timing"]["count"] >= 3


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_repeat(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu, silu, mish, gem, e_gem, se_gem, gelu_tanh]\n"
                     "backends: [numpy]\nshapes: [1K]\ndtypes: [float32, float64]\n"
                     "passes: [forward, backward]\ncache: hot\n" + FAST % 60)
    out = tmp_path / "out"
    results = out / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "gembench", "run", str(suite), "--out",
                             str(out), "--no-progress"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        n = sum(1 for r in read_records(results) if r.get("kind") == "case") \
            if results.exists() else 0
        if n >= 6:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [r for r in read_records(results) if r.get("kind") == "case"]
    assert 6 <= len(before) < 32, "the kill should land mid-run"

    res = _gembench(["run", str(suite), "--out", str(out), "--resume", "--no-progress"],
                    timeout=300)
    assert res.returncode in RUN_OK, res.stderr
    records = [r for r in read_records(results) if r.get("kind") == "case"]
    counts = Counter(r["case_id"] for r in records)
    assert len(counts) == 2 * 2 * 8  # dtypes x passes x (relu + 7 activations)
    assert max(counts.values()) == 1, "a finished case was repeated"
    assert records[: len(before)] == before, "records from before the kill changed"
    assert sum(1 for r in read_records(results) if r.get("kind") == "run") == 1


def test_resume_refuses_a_different_suite(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("activations: [gem]\nbackends: [numpy]\nshapes: [1K]\npasses: [forward]\n"
                 + FAST % 60)
    b.write_text(a.read_text().replace("gem", "gelu"))
    out = tmp_path / "out"
    assert _gembench(["run", str(a), "--out", str(out), "--no-progress"],
                     timeout=300).returncode == 0
    res = _gembench(["run", str(b), "--out", str(out), "--resume"], timeout=120)
    assert res.returncode == 2 and "different suite" in res.stderr
    res = _gembench(["run", str(a), "--out", str(out)], timeout=120)
    assert res.returncode == 2 and "--resume" in res.stderr
