"""Reliability of the commands after ``run`` (issue 23): merge, shard, export, report --html,
crosscheck and the Ray address, under bad input and faults. Each test reproduces one failure
the issue lists; fixtures are the small results file and copies of it (no timing)."""

from __future__ import annotations

import copy
import errno
import json
import os
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import RUN_OK

from gembench.cli import main
from gembench.results import read, read_records

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"


def records(path: Path = FIXTURE) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def write(path: Path, recs: list[dict[str, Any]], end: bool = True) -> Path:
    """``recs`` as a results file, ending with an end mark when ``end``."""
    lines = [json.dumps(r) for r in recs]
    if end:
        lines.append(json.dumps({"kind": "end", "records": len(recs)}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def v2(path: Path, fixture: Path = FIXTURE, end: bool = True) -> Path:
    """The fixture as a version-2 file of hot cases, written by a gembench that ends its files
    with an end mark (``end``: whether this one got it)."""
    recs = copy.deepcopy(records(fixture))
    recs[0]["schema"], recs[0]["end_mark"] = 2, True
    for r in recs[1:]:
        r["cache"], r["case_id"] = "hot", r["case_id"] + "/hot"
    return write(path, recs, end)


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("gembench: error")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("gembench.report.plots.write_plots", lambda *a, **k: ([], []))
    monkeypatch.chdir(tmp_path)


# ---- merge: the output, duplicates, schemas, faults


@pytest.mark.parametrize("out", ["file", "below_file", "long", "proc"])
def test_merge_out_mistakes_are_one_line(out: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    target = {"file": "f", "below_file": "f/sub", "long": "a" * 300, "proc": "/proc/gb/x"}[out]
    assert main(["merge", str(FIXTURE), "--out", target]) == 2
    assert "--out" in one_error(capsys)


def test_merge_never_writes_over_an_input(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = v2(tmp_path / "run" / "results.jsonl")
    before = src.read_bytes()
    assert main(["merge", str(src), "--out", str(tmp_path / "run")]) == 2
    assert "input" in one_error(capsys) and src.read_bytes() == before


def test_a_run_read_twice_is_kept_once(tmp_path: Path) -> None:
    a = v2(tmp_path / "a.jsonl")
    assert main(["merge", str(a), str(a), "--out", "m1"]) == 0
    assert main(["merge", "m1", str(a), "--out", "m2"]) == 0
    for m in ("m1", "m2"):
        recs = list(read_records(Path(m) / "results.jsonl"))
        assert sum(r["kind"] == "run" for r in recs) == 1
        ids = [r["case_id"] for r in recs if r["kind"] == "case"]
        assert len(ids) == len(set(ids)) == len(records()) - 1
    assert (Path("m1") / "results.jsonl").read_bytes() != b""


def test_forced_merge_keeps_each_cases_cache_state(tmp_path: Path) -> None:
    new = v2(tmp_path / "new.jsonl")
    for order in ([FIXTURE, new], [new, FIXTURE]):
        out = tmp_path / f"m{len(os.listdir(tmp_path))}"
        assert main(["merge", *map(str, order), "--out", str(out), "--force"]) == 0
        _, _, cases = read(out)
        by_cache = {c["cache"] for c in cases if c["case_id"].endswith("/hot")}
        assert by_cache == {"hot"}
        assert {c["cache"] for c in cases if not c["case_id"].endswith("/hot")} == {"mixed"}


def test_unknown_schema_is_refused_and_when_forced_said_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = records(v2(tmp_path / "v2.jsonl"))
    recs[0]["schema"] = 99
    future = write(tmp_path / "future.jsonl", recs[:-1])
    assert main(["merge", str(future), "--out", "m"]) == 2
    assert "schema 99" in one_error(capsys)
    assert main(["merge", str(future), "--out", "m", "--force"]) == 0
    capsys.readouterr()
    assert main(["report", "m", "--out", "r.md", "--html", "r.html"]) == 0
    err = capsys.readouterr().err
    assert "schema 99, merged with --force" in err
    assert "schema 99, merged with --force" in Path("r.md").read_text()
    assert "schema 99, merged with --force" in Path("r.html").read_text()


@pytest.mark.parametrize("fault", [OSError(errno.ENOSPC, "No space left on device"),
                                   KeyboardInterrupt()])
def test_a_failed_merge_leaves_nothing_and_runs_again_to_the_same_file(
        fault: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    a, b = v2(tmp_path / "a.jsonl"), FIXTURE
    assert main(["merge", str(a), str(b), "--out", "ref", "--force"]) == 0
    real = os.replace

    def broken(*args: Any) -> None:
        raise fault

    monkeypatch.setattr(os, "replace", broken)
    if isinstance(fault, KeyboardInterrupt):
        assert main(["merge", str(a), str(b), "--out", "m", "--force"]) == 130
    else:
        assert main(["merge", str(a), str(b), "--out", "m", "--force"]) == 2
        assert "No space left" in one_error(capsys)
    assert not (Path("m") / "results.jsonl").exists()
    assert [p.name for p in Path("m").iterdir() if not p.name.startswith(".gembench")] == []
    monkeypatch.setattr(os, "replace", real)
    assert main(["merge", str(a), str(b), "--out", "m", "--force"]) == 0
    ref = (Path("ref") / "results.jsonl").read_bytes()
    assert (Path("m") / "results.jsonl").read_bytes() == ref
    assert main(["merge", str(a), str(b), "--out", "m", "--force"]) == 0  # again: unchanged
    assert "unchanged" in capsys.readouterr().out


def test_a_half_written_merge_of_an_older_gembench_is_replaced(tmp_path: Path) -> None:
    a = v2(tmp_path / "a.jsonl")
    assert main(["merge", str(a), "--out", "ref"]) == 0
    full = (Path("ref") / "results.jsonl").read_bytes()
    Path("m").mkdir()
    (Path("m") / "results.jsonl").write_bytes(b"".join(full.splitlines(keepends=True)[:5]))
    assert main(["merge", str(a), "--out", "m"]) == 0
    assert (Path("m") / "results.jsonl").read_bytes() == full


# ---- completeness, said by every reader


def test_an_incomplete_file_says_so_everywhere(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = v2(tmp_path / "r" / "results.jsonl", end=False)  # as a killed run leaves it
    for argv in (["report", str(path), "--out", "r.md", "--html", "r.html"],
                 ["export", str(path), "--format", "bmf", "--out", "e.json"],
                 ["compare", str(path), str(path)]):
        assert main(argv) in (0, 1)
        assert "incomplete" in capsys.readouterr().err, argv
    assert "Warning:" in Path("r.md").read_text() and "incomplete" in Path("r.html").read_text()
    complete = v2(tmp_path / "c.jsonl")
    assert main(["report", str(complete), "--out", "c.md"]) == 0
    assert "incomplete" not in capsys.readouterr().err
    cut = complete.read_text().splitlines()
    del cut[3]  # a line lost: the end mark no longer counts
    (tmp_path / "cut.jsonl").write_text("\n".join(cut) + "\n")
    assert main(["export", str(tmp_path / "cut.jsonl"), "--format", "bmf"]) == 0
    assert "end mark counts 40 records, the file holds 39" in capsys.readouterr().err


def test_a_merge_of_an_incomplete_shard_says_so(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    part = v2(tmp_path / "part.jsonl", end=False)
    assert main(["merge", str(part), "--out", "m"]) == 0
    assert "incomplete" in capsys.readouterr().err
    assert main(["report", "m", "--out", "r.md"]) == 0
    assert "was merged incomplete" in Path("r.md").read_text()


# ---- export and HTML: inputs are never overwritten; figures and names stay valid


@pytest.mark.parametrize("argv", [["export", "{r}", "--format", "bmf", "--out", "{r}"],
                                  ["report", "{r}", "--html", "{r}"],
                                  ["report", "{d}", "--html", "{r}"],
                                  ["report", "{r}", "--out", "{r}"],
                                  ["export", "{r}", "--format", "bmf", "--out", "{o}"]])
def test_no_command_writes_over_a_results_file(argv: list[str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    r = v2(tmp_path / "d" / "results.jsonl")
    o = v2(tmp_path / "other.jsonl")
    before = r.read_bytes(), o.read_bytes()
    args = [a.format(r=r, d=r.parent, o=o) for a in argv]
    assert main(args) == 2
    assert "refusing" in one_error(capsys)
    assert (r.read_bytes(), o.read_bytes()) == before


HOSTILE = '<script>alert("x")</script> \'"\\\n é ✓ </td></table><img src=x onerror=alert(1)>'


def _hostile(path: Path) -> Path:
    recs = records(v2(path))
    run = recs[0]
    run["suite"] = run["description"] = HOSTILE
    run["environment"]["cpu"]["brand_raw"] = HOSTILE
    run["environment"]["hostname"] = HOSTILE
    for r in recs[1:-1]:
        r["label"] = r["backend"] = r["activation"] = HOSTILE + r["backend"]
        r["case_id"] = HOSTILE + r["case_id"]
        r["reason"] = HOSTILE
        if r["status"] == "ok":
            r["timing"]["median"] = 1e305  # x 1e6 (µs) overflows a float
    return write(path, recs[:-1])


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts, self.handlers, self.tags = 0, [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.scripts += tag == "script"
        self.handlers += [k for k, _ in attrs if k.startswith("on")]


def test_hostile_names_are_inert_in_html_and_valid_in_exports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _hostile(tmp_path / "h.jsonl")
    assert main(["report", str(path), "--html", "h.html", "--out", "h.md"]) == 0
    page = Path("h.html").read_text()
    tags = _Tags()
    tags.feed(page)
    assert tags.scripts == 1 and not tags.handlers and "img" not in tags.tags
    assert "&lt;script&gt;alert(&quot;x&quot;)" in page
    for fmt in ("github-action-benchmark", "bmf", "pytest-benchmark"):
        capsys.readouterr()
        assert main(["export", str(path), "--format", fmt, "--out", f"{fmt}.json"]) == 0, fmt
        data = json.loads(Path(f"{fmt}.json").read_text(encoding="utf-8"))
        assert any(HOSTILE in s for s in _strings(data)) or fmt == "pytest-benchmark", fmt


def _strings(data: Any) -> list[str]:
    """Every key and string value in a JSON value."""
    if isinstance(data, dict):
        return [*data, *(s for v in data.values() for s in _strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) else []


# ---- shard, suites, crosscheck, Ray


@pytest.mark.parametrize("spec", ["", "1/1000000000", "0/3", " 1/2", "1/2 "])
def test_bad_shards_are_one_line(spec: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu]\nbackends: [numpy]\nshapes: [1K]\n")
    assert main(["run", str(suite), "--shard", spec, "--out", "o"]) == 2
    assert "--shard" in one_error(capsys) and not Path("o").exists()


def test_an_empty_shard_is_an_empty_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from test_reliability_cli import FakeWorker

    FakeWorker.calls, FakeWorker.interrupt_at = [], None
    monkeypatch.setattr("gembench.engine.running.workers.Worker", FakeWorker)
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu]\nbackends: [numpy]\nshapes: [1K]\n"
                     "dtypes: [float32, float64]\npasses: [forward]\ncache: hot\n")
    assert main(["run", str(suite), "--shard", "3/3", "--out", "o", "--no-progress"]) in RUN_OK
    assert "shard 3/3 is empty" in capsys.readouterr().err and not FakeWorker.calls
    recs = list(read_records(Path("o") / "results.jsonl"))
    assert [r["kind"] for r in recs] == ["run", "end"] and recs[0]["shard"] == "3/3"
    assert main(["run", str(suite), "--shard", "1/3", "--out", "o1", "--no-progress"]) in RUN_OK
    assert len(FakeWorker.calls) == 2  # one whole group of the two


def test_a_key_written_twice_in_a_suite_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu]\ndtypes: [float32]\nbackends: [numpy]\n"
                     "dtypes: [float64]\n")
    assert main(["run", str(suite), "--out", "o"]) == 2
    assert "'dtypes' written twice (first on line 2)" in one_error(capsys)


def test_an_unreachable_ray_address_is_one_line_at_once() -> None:
    from gembench.engine.running.executors import ExecutorError
    from gembench.engine.running.ray_executor import check_reachable

    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match="cannot reach the Ray cluster"):
        check_reachable("127.0.0.1:1", timeout=5)
    with pytest.raises(ExecutorError, match="expected HOST:PORT"):
        check_reachable("127.0.0.1:99999")
    assert time.monotonic() - t0 < 10
    check_reachable("auto")  # left to Ray


def test_a_file_without_a_valid_case_is_reported(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    empty = write(tmp_path / "e.jsonl", records(v2(tmp_path / "v.jsonl"))[:1])  # an empty shard
    assert main(["report", str(empty), "--out", "e.md", "--html", "e.html"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert "No case ran successfully" in Path("e.html").read_text()
    assert main(["export", str(empty), "--format", "bmf"]) == 0
    assert json.loads(capsys.readouterr().out) == {}


class _FullFile:
    """A file object on a full disk: every write fails."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def write(self, data: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def test_the_lock_file_on_a_full_disk_is_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from gembench.results.store import ResultsError
    from gembench.results.writer import RunLock

    real = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: _FullFile(real(self, *a, **k)))
    with pytest.raises(ResultsError, match=r"cannot write the lock file .*No space left"):
        RunLock(tmp_path)


def test_a_merge_killed_at_any_moment_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGKILL a real ``merge`` of a 4,700-case file at several moments: ``results.jsonl`` is
    absent or complete, and the same command then writes the reference file."""
    import signal
    import subprocess
    import sys

    from gembench.results.store import scan

    recs = records(v2(tmp_path / "small.jsonl"))
    big = [recs[0]] + [{**r, "case_id": f"{r['case_id']}/{k}"}
                       for k in range(120) for r in recs[1:-1]]
    src = write(tmp_path / "big.jsonl", big)
    argv = [sys.executable, "-m", "gembench", "merge", str(src), "--out"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    assert subprocess.run([*argv, "ref"], env=env, capture_output=True).returncode == 0
    for i, delay in enumerate([0.7, 1.1, 1.6]):
        out = tmp_path / f"m{i}"
        proc = subprocess.Popen([*argv, str(out)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        merged = out / "results.jsonl"
        assert not merged.exists() or not scan(merged).notes, delay
        assert subprocess.run([*argv, str(out)], env=env, capture_output=True).returncode == 0
        assert merged.read_bytes() == (Path("ref") / "results.jsonl").read_bytes()


def test_a_file_from_before_end_marks_is_not_called_incomplete(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.jsonl"  # a version-2 file whose writer did not write end marks
    recs = copy.deepcopy(records(FIXTURE))
    recs[0]["schema"] = 2
    old.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["export", str(old), "--format", "bmf", "--out", str(tmp_path / "e.json")]) == 0
    assert "incomplete" not in capsys.readouterr().err
