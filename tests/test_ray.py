"""``run --executor ray`` on a local Ray cluster started by the test (2 CPUs, no dashboard, no
network): the same cases as the local executor, a lost worker retried and recorded once, resume
across executors. Skipped when Ray is not installed (``pip install 'gembench[ray]'``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gembench.backends import BACKEND_CLASSES
from gembench.plan.suite import parse_suite
from gembench.results import read_records

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "tests" / "plugins"
FAST = {"budget_s": 0.005, "min_samples": 3, "warmup": 1, "timeout_s": 60}
KILL_ONCE = "killonce=kill_once_backend:KillOnceBackend"


def _gembench(*args: str, pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, ROOT]))}
    return subprocess.run([sys.executable, "-m", "gembench", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=env)


def test_without_ray_the_executor_is_a_one_line_error(tmp_path: Path) -> None:
    res = _gembench("run", "suites/smoke.yaml", "--executor", "ray", "--out", str(tmp_path),
                    pythonpath=[PLUGINS / "no_ray"])
    assert res.returncode == 2
    assert res.stderr.strip() == ("gembench: error: --executor ray needs Ray, which is not "
                                  "installed: pip install 'gembench[ray]'")
    assert not (tmp_path / "results.jsonl").exists()


def test_ray_options_are_refused_on_the_local_executor(tmp_path: Path) -> None:
    res = _gembench("run", "suites/smoke.yaml", "--address", "auto", "--out", str(tmp_path),
                    pythonpath=[])
    assert res.returncode == 2
    assert res.stderr.strip() == ("gembench: error: --address: not an option of --executor "
                                  "local (it takes: none)")


@pytest.mark.parametrize(("args", "message"), [
    (["--address", "ray://nowhere:10001"], "--address ray://nowhere:10001: cannot join the Ray "
                                           "cluster: Ray Client requires pip package"),
    (["--profile"], "--profile: traces are written by the local executor only"),
])
def test_ray_refusals_are_one_line_and_write_nothing(tmp_path: Path, args: list[str],
                                                     message: str) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'gembench[ray]'")
    res = _gembench("run", "suites/smoke.yaml", "--executor", "ray", *args, "--out",
                    str(tmp_path), pythonpath=[])
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(f"gembench: error: {message}")
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "results.jsonl").exists()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray cluster whose workers can load the test plugins; yields the kill marker."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'gembench[ray]'")
    marker = tmp_path_factory.mktemp("ray") / "killed"
    mp = pytest.MonkeyPatch()
    mp.setenv("GEMBENCH_BACKENDS", KILL_ONCE)
    mp.setenv("GEMBENCH_KILL_MARKER", str(marker))
    mp.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS), str(ROOT)]))
    mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
    mp.setenv("RAY_worker_niceness", "0")  # as the README tells cluster nodes to start
    mp.delenv("RAY_ADDRESS", raising=False)  # always a fresh local cluster, never a real one
    mp.setitem(BACKEND_CLASSES, "killonce", KILL_ONCE.split("=")[1])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        mp.undo()


def _suite(backends: list[str], **over: object):
    data = {"activations": ["gelu"], "backends": backends, "shapes": ["1K"],
            "dtypes": ["float32"], "passes": ["forward", "backward"], "cache": ["hot"],
            "timing": FAST, **over}
    return parse_suite(data)


def _case_records(path: Path) -> list[dict]:
    return [r for r in read_records(path) if r.get("kind") == "case"]


@pytest.mark.slow
def test_ray_runs_the_same_cases_as_local(ray_cluster: Path, tmp_path: Path) -> None:
    from gembench.engine.running.executors import executor
    from gembench.engine.running.runner import run_suite

    suite = _suite(["numpy", "torch_eager"])
    local = _case_records(run_suite(suite, tmp_path / "local", progress=False))
    remote_file = run_suite(suite, tmp_path / "ray", progress=False, executor=executor("ray"))
    remote = _case_records(remote_file)
    assert Counter(r["case_id"] for r in remote) == Counter(r["case_id"] for r in local)
    assert len(local) == 8 and all(r["status"] == "ok" for r in remote)
    records = list(read_records(remote_file))
    assert records[0]["executor"]["name"] == "ray"
    assert {r["kind"] for r in records} == {"run", "case", "end"}
    assert records[-1] == {"kind": "end", "records": len(records) - 1}  # complete
    assert len({r["machine_key"] for r in remote}) == 1
    assert remote[0]["machine"]["cores"] == os.cpu_count()
    assert {r["niceness"] for r in remote} == {0}  # cases never ran niced


@pytest.mark.slow
def test_a_lost_worker_is_retried_and_recorded_once(ray_cluster: Path, tmp_path: Path) -> None:
    from gembench.engine.running.executors import executor
    from gembench.engine.running.runner import run_suite

    suite = _suite(["killonce"], passes=["forward"])
    marker = ray_cluster
    marker.unlink(missing_ok=True)
    lost = _case_records(run_suite(suite, tmp_path / "no-retry", progress=False,
                                   executor=executor("ray", retries=0)))
    assert marker.exists(), "the plugin did not kill its task"
    assert sorted(r["status"] for r in lost) == ["failed", "failed"]
    assert all("ray task failed after 1 attempt(s)" in r["reason"] for r in lost)

    marker.unlink()
    out = tmp_path / "retried"
    records = _case_records(run_suite(suite, out, progress=False,
                                      executor=executor("ray", retries=2)))
    assert marker.exists(), "the plugin did not kill its task"
    assert Counter(r["case_id"] for r in records) == Counter(c.case_id for c in suite.cases)
    assert all(r["status"] == "ok" for r in records)

    # --resume across executors: the local executor finds nothing left to do
    again = run_suite(suite, out, resume=True, progress=False)
    assert Counter(r["case_id"] for r in _case_records(again)) == \
        Counter(c.case_id for c in suite.cases)


def test_a_task_reserves_a_whole_device() -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'gembench[ray]'")
    from gembench.engine.running.executors import executor
    from gembench.plan.shard import comparison_groups
    from gembench.spec.cases import Case

    ray_ex = executor("ray", accelerator_type="H100")
    cpu_case = Case(backend="numpy", activation="gelu", threads=2, allocator="caching")
    cpu = comparison_groups([cpu_case])[0]
    opts = ray_ex._options(cpu, node_cpus=16)
    assert opts["num_cpus"] == 16 and "num_gpus" not in opts and "accelerator_type" not in opts
    assert opts["max_retries"] == 3 and opts["retry_exceptions"] is False
    env = opts["runtime_env"]["env_vars"]
    assert env["OMP_NUM_THREADS"] == "2" and "MALLOC_MMAP_THRESHOLD_" in env
    gpu_case = Case(backend="torch_eager", activation="gelu", device="cuda", threads=4)
    gpu = comparison_groups([gpu_case])[0]
    opts = ray_ex._options(gpu, node_cpus=16)
    assert (opts["num_gpus"], opts["num_cpus"], opts["accelerator_type"]) == (1, 4, "H100")


def test_groups_of_one_environment_share_a_task_bounded_per_node() -> None:
    """gembench's worker processes start once per task: groups of one environment go in one
    task, at most MAX_BATCH, and every node gets two tasks when there are enough."""
    from gembench.engine.running.ray_executor import MAX_BATCH, batches
    from gembench.plan.shard import comparison_groups
    from gembench.spec.cases import Case

    cases = [Case(backend="numpy", activation="gem", shape=(1 << k,), threads=t)
             for t in (1, 2) for k in range(10, 30)]
    groups = list(comparison_groups(cases))
    assert len(groups) == 40
    one = batches(groups, nodes=1)
    assert [len(b) for b in one] == [MAX_BATCH] * 2 + [4] + [MAX_BATCH] * 2 + [4]
    assert all(len({g.cases[0].threads for g in b}) == 1 for b in one)  # never mixed
    assert sorted(id(g) for b in one for g in b) == sorted(map(id, groups))  # each once
    assert [len(b) for b in batches(groups, nodes=4)] == [3, 3, 3, 3, 3, 3, 2] * 2
