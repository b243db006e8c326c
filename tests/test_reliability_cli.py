"""The run and report commands under mistakes and faults: one line, exit 0/1/2/130, nothing
lost or doubled (issue 12). Most run in-process with a fake worker; the ones that need real
processes (Ctrl-C, two runs at once, a full file system) start ``python -m gembench``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import RUN_OK

from gembench.cli import main
from gembench.results import SCHEMA_VERSION, RunLock, read, read_records, scan
from gembench.spec.cases import Case

ROOT = Path(__file__).resolve().parent.parent
SUITE = ("activations: [gelu, silu]\nbackends: [numpy]\nshapes: [1K]\npasses: [forward]\n"
         "cache: hot\n"
         "timing: {budget_s: 0.01, min_samples: 3, warmup: 1, timeout_s: 60}\n")


class FakeWorker:
    """Stands in for a worker process: records what it was asked, answers at once."""

    calls: ClassVar[list[tuple[str, Any]]] = []
    interrupt_at: ClassVar[int | None] = None

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.alive = True

    def run(self, case: Case, timing: Any, seed: int, profile_dir: str | None = None
            ) -> dict[str, Any]:
        if FakeWorker.interrupt_at is not None and len(FakeWorker.calls) == \
                FakeWorker.interrupt_at:
            raise KeyboardInterrupt
        FakeWorker.calls.append((case.case_id, timing))
        return {"status": "skipped", "reason": "fake worker"}

    def run_group(self, cases: list[Case], timings: list[Any], seed: int,
                  profile_dir: str | None = None, marker: str | None = None) -> Any:
        for case, timing in zip(cases, timings):
            yield {"event": "outcome", "case_id": case.case_id,
                   "outcome": self.run(case, timing, seed, profile_dir)}

    def close(self) -> None:
        self.alive = False


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[FakeWorker]:
    """A fake worker, no plots, and the working directory in ``tmp_path``."""
    FakeWorker.calls, FakeWorker.interrupt_at = [], None
    monkeypatch.setattr("gembench.engine.running.workers.Worker", FakeWorker)
    monkeypatch.setattr("gembench.report.plots.write_plots", lambda *a, **k: ([], []))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMBENCH_REPORT_DIR", raising=False)  # reports/ in tmp_path
    return FakeWorker


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("gembench: error")]
    assert len(lines) == 1, err
    return lines[0]


def _suite(tmp_path: Path, text: str = SUITE, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_filter_matching_nothing_is_refused(tmp_path: Path, fake: Any,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", _suite(tmp_path), "--out", "o", "--filter", "backend=tensorflow",
               "--no-progress"])
    assert rc == 2
    line = _err_line(capsys)
    assert "--filter 'backend=tensorflow' matches none of the 3 cases" in line
    assert not Path("o").exists()


def test_group_timing_reaches_the_worker_and_the_record(tmp_path: Path, fake: Any) -> None:
    text = SUITE + "groups:\n  - {activations: [gelu]}\n  - {activations: [silu], " \
                   "timing: {timeout_s: 5}}\n"
    assert main(["run", _suite(tmp_path, text), "--out", "o", "--no-progress"]) in RUN_OK
    sent = dict(fake.calls)
    silu = next(k for k in sent if "/silu/" in k)
    gelu = next(k for k in sent if "/gelu/" in k)
    assert sent[silu].timeout_s == 5 and sent[gelu].timeout_s == 60
    cases = read(Path("o/results.jsonl")).cases
    policy = {c["case_id"]: c.get("timing_policy") for c in cases}
    assert policy[silu]["timeout_s"] == 5 and policy[gelu] is None


def test_unsafe_suite_name_stays_under_results(tmp_path: Path, fake: Any) -> None:
    text = SUITE + "name: ../../" + "x" * 300 + "\n"
    assert main(["run", _suite(tmp_path, text), "--no-progress"]) in RUN_OK
    made = [p for p in Path("results").rglob("results.jsonl")]
    assert len(made) == 1 and len(made[0].parts[1]) <= 100
    assert list(Path("reports").glob("*.md"))
    assert not (tmp_path.parent / "x").exists()


def test_ctrl_c_is_one_line_and_resume_finishes(tmp_path: Path, fake: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path)
    fake.interrupt_at = 1
    assert main(["run", suite, "--out", "o", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gembench: interrupted") and "--resume" in last and "o" in last
    assert len(read(Path("o/results.jsonl")).cases) == 1
    fake.interrupt_at = None
    assert main(["run", suite, "--out", "o", "--no-progress", "--resume"]) in RUN_OK
    ids = [r["case_id"] for r in read_records(Path("o/results.jsonl")) if r["kind"] == "case"]
    assert len(ids) == 3 and len(set(ids)) == 3


def test_resume_repairs_a_torn_tail(tmp_path: Path, fake: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path)
    fake.interrupt_at = 2
    main(["run", suite, "--out", "o", "--no-progress"])
    results = Path("o/results.jsonl")
    with results.open("ab") as fh:
        fh.write(b'{"kind": "case", "case_id": "elementwise/numpy/')  # torn by a full disk
    fake.interrupt_at = None
    assert main(["run", suite, "--out", "o", "--no-progress", "--resume"]) in RUN_OK
    assert "cut off a torn last line" in capsys.readouterr().err
    s = scan(results)
    assert s.problems == [] and len(s.cases) == 3


@pytest.mark.parametrize("damage", ["schema 2", "binary", "directory"])
def test_resume_into_a_foreign_file_writes_nothing(tmp_path: Path, fake: Any, damage: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    results = Path("o/results.jsonl")
    results.parent.mkdir()
    if damage == "schema 2":
        results.write_text(json.dumps({"kind": "run", "schema": SCHEMA_VERSION + 1}) + "\n")
    elif damage == "binary":
        results.write_bytes(bytes(range(256)) * 4)
    else:
        results.mkdir()
    before = results.read_bytes() if results.is_file() else None
    assert main(["run", _suite(tmp_path), "--out", "o", "--resume", "--no-progress"]) == 2
    line = _err_line(capsys)
    assert str(results) in line and fake.calls == []
    if before is not None:
        assert results.read_bytes() == before


def test_locked_run_directory_is_refused(tmp_path: Path, fake: Any,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    Path("o").mkdir()
    with RunLock(Path("o")):
        assert main(["run", _suite(tmp_path), "--out", "o", "--no-progress"]) == 2
    line = _err_line(capsys)
    assert f"another gembench run (pid {os.getpid()}) is writing here" in line
    assert not Path("o/results.jsonl").exists()


@pytest.mark.parametrize("where", ["directory", "existing results", "under a file", "long name",
                                   "existing report"])
def test_report_out_mistakes_are_one_line(tmp_path: Path, fake: Any, where: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = ROOT / "tests" / "data" / "results-small.jsonl"
    results = tmp_path / "results.jsonl"
    shutil.copy(src, results)
    Path("d").mkdir()
    Path("f").write_text("x")
    Path("old.md").write_text("old report")
    out = {"directory": "d", "existing results": str(results), "under a file": "f/r.md",
           "long name": "r" * 300 + ".md", "existing report": "old.md"}[where]
    rc = main(["report", str(results), "--out", out])
    if where == "existing report":  # an earlier report is replaced
        assert rc == 0 and Path("old.md").read_text().startswith("# gembench report")
        return
    assert rc == 2
    assert out[:50] in _err_line(capsys)
    assert results.read_bytes() == src.read_bytes()


def _gembench(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gembench", *args], capture_output=True,
                          text=True, cwd=kw.pop("cwd", ROOT), env={**os.environ,
                                                                   "PYTHONPATH": str(ROOT)},
                          **kw)


@pytest.mark.slow
def test_two_runs_at_once_one_is_refused(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gembench", "run", suite, "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    refused = next(err for rc, err in results if rc == 2)
    assert "another gembench run (pid" in refused or "pass --resume" in refused
    assert "Traceback" not in refused
    records = list(read_records(out / "results.jsonl"))
    assert sum(r["kind"] == "run" for r in records) == 1
    assert max(Counter(r["case_id"] for r in records if r["kind"] == "case").values()) == 1


@pytest.mark.slow
def test_sigint_prints_how_to_resume(tmp_path: Path) -> None:
    # three comparison groups (one per shape): a group's cases are written together, so the
    # interrupt falls between groups
    suite = _suite(tmp_path, SUITE.replace("[gelu, silu]", "[gelu, silu, mish, gem, e_gem]")
                   .replace("shapes: [1K]", "shapes: [1K, 2048, 4096]"))
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "gembench", "run", suite, "--out", str(out),
                             "--no-progress"], cwd=tmp_path, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and len(read(results).cases) >= 2):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("gembench: interrupted; the finished cases")
    res = _gembench(["run", suite, "--out", str(out), "--resume", "--no-progress"], timeout=300)
    assert res.returncode in RUN_OK, res.stderr
    ids = [r["case_id"] for r in read_records(results) if r["kind"] == "case"]
    assert len(ids) == len(set(ids)) == 18


def _unshare_ok() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"],
                          capture_output=True).returncode == 0


def _in_namespace(script: str, cwd: Path) -> None:
    """Run a shell script as root of its own user and mount namespace (tmpfs mounts)."""
    subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=cwd, timeout=500,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
@pytest.mark.skipif(not _unshare_ok(), reason="needs unshare -rm and mount (user namespaces)")
def test_full_file_system_then_resume_loses_nothing(tmp_path: Path) -> None:
    """A 1 MiB tmpfs, nearly filled: the run stops with one line (exit 2) and no torn line;
    with space freed, --resume finishes every case exactly once."""
    suite = _suite(tmp_path, SUITE.replace("[gelu, silu]", "[gelu, silu, mish, gem, e_gem]"))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    gb = f"{sys.executable} -m gembench run {suite} --out {mnt}/o --no-progress"
    script = (f"mount -t tmpfs -o size=1m none {mnt} && "
              f"head -c $((1024*1024 - 12*1024)) /dev/zero > {mnt}/filler; "
              f"{gb} >/dev/null 2>{tmp_path}/err1; echo $? > {tmp_path}/rc1; "
              f"cp {mnt}/o/results.jsonl {tmp_path}/partial.jsonl; rm {mnt}/filler; "
              f"{gb} --resume >/dev/null 2>{tmp_path}/err2; echo $? > {tmp_path}/rc2; "
              f"cp {mnt}/o/results.jsonl {tmp_path}/final.jsonl")
    _in_namespace(script, tmp_path)
    err1 = (tmp_path / "err1").read_text()
    assert (tmp_path / "rc1").read_text().strip() == "2", err1
    assert "Traceback" not in err1 and "No space left on device" in err1.splitlines()[-1]
    partial = tmp_path / "partial.jsonl"
    assert partial.read_bytes().endswith(b"\n") and scan(partial).problems == []
    assert (tmp_path / "rc2").read_text().strip() == "0", (tmp_path / "err2").read_text()
    final = list(read_records(tmp_path / "final.jsonl"))
    ids = Counter(r["case_id"] for r in final if r["kind"] == "case")
    assert len(ids) == 6 and max(ids.values()) == 1
    assert scan(tmp_path / "final.jsonl").problems == []


@pytest.mark.skipif(not _unshare_ok(), reason="needs unshare -rm and mount (user namespaces)")
def test_report_on_a_read_only_or_full_file_system(tmp_path: Path) -> None:
    src = ROOT / "tests" / "data" / "results-small.jsonl"
    ro, full = tmp_path / "ro", tmp_path / "full"
    ro.mkdir()
    full.mkdir()
    rep = f"{sys.executable} -m gembench report {src} --out"
    script = (f"mount -t tmpfs -o ro none {ro} && mount -t tmpfs -o size=64k none {full} && "
              f"head -c 60000 /dev/zero > {full}/filler; "
              f"{rep} {ro}/r.md 2>{tmp_path}/e1; echo $? > {tmp_path}/c1; "
              f"{rep} {full}/r.md 2>{tmp_path}/e2; echo $? > {tmp_path}/c2; "
              f"ls {full} > {tmp_path}/left")
    _in_namespace(script, tmp_path)
    for n, why in (("1", "read-only"), ("2", "No space left on device")):
        err = (tmp_path / f"e{n}").read_text()
        assert (tmp_path / f"c{n}").read_text().strip() == "2", err
        assert "Traceback" not in err and why in err.strip().splitlines()[-1], err
    assert "r.md" not in (tmp_path / "left").read_text()  # no half-written report left
