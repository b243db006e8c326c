"""A lost Ray node mid-run (issue 23): a local cluster of two nodes on this machine (a head and
a worker node, one CPU each, started with ``ray.cluster_utils.Cluster``), a run of two
comparison groups, one per node; the worker node is removed while both tasks are measuring.
Every case must be recorded exactly once, ok (Ray retries the lost task on the head node).

Takes a minute or two and starts several processes, so it runs only when asked:
``GEMBENCH_TEST_NODE_LOSS=1 pytest tests/test_ray_node_loss.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gembench.results import read_records

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "tests" / "plugins"
SUITE = ("activations: [gelu]\nbackends: [holdnode]\nshapes: [1K]\n"
         "dtypes: [float32, float64]\npasses: [forward]\ncache: hot\n"
         "timing: {budget_s: 0.005, min_samples: 3, warmup: 1, timeout_s: 120}\n")

pytestmark = pytest.mark.skipif(os.environ.get("GEMBENCH_TEST_NODE_LOSS") != "1",
                                reason="starts a two-node Ray cluster (a minute or two); set "
                                       "GEMBENCH_TEST_NODE_LOSS=1 to run it")


def _wait(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_lost_node_loses_and_doubles_no_case(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cluster_utils = pytest.importorskip("ray.cluster_utils", reason="Ray is not installed")
    hold = tmp_path / "hold"
    hold.mkdir()
    env = {"GEMBENCH_BACKENDS": "holdnode=hold_node_backend:HoldNodeBackend",
           "GEMBENCH_HOLD_DIR": str(hold), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_worker_niceness": "0",
           "PYTHONPATH": os.pathsep.join([str(PLUGINS), str(ROOT)])}
    for k, v in env.items():  # the nodes' processes inherit them
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        suite = tmp_path / "s.yaml"
        suite.write_text(SUITE)
        out = tmp_path / "out"
        driver = subprocess.Popen(
            [sys.executable, "-m", "gembench", "run", str(suite), "--executor", "ray",
             "--address", cluster.address, "--out", str(out), "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        _wait(lambda: len(list(hold.glob("started-*"))) >= 2, 240, "both groups to start")
        cluster.remove_node(worker)  # the node and every process on it
        (hold / "release").write_text("")
        _, err = driver.communicate(timeout=300)
        assert driver.returncode == 0 and "Traceback" not in err, err[-2000:]
    finally:
        cluster.shutdown()
    assert len(list(hold.glob("started-*"))) >= 3, "the lost node's task was not run again"
    cases = [r for r in read_records(out / "results.jsonl") if r.get("kind") == "case"]
    ids = Counter(r["case_id"] for r in cases)
    assert len(ids) == 4 and set(ids.values()) == {1}, ids  # gelu and relu, two dtypes
    assert all(r["status"] == "ok" for r in cases), [r.get("reason") for r in cases]
    assert list(read_records(out / "results.jsonl"))[-1]["kind"] == "end"
