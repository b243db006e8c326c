"""The results file under storage faults and damage: torn tails repaired, failed writes cut
back, malformed records skipped by line number, --resume refusals before any write, and the
run-directory lock (issue 12)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gembench.compare import compare_paths
from gembench.report.summary import print_summary
from gembench.results import read
from gembench.results.store import SCHEMA_VERSION, ResultsError, scan
from gembench.results.writer import ResultsWriter, RunLock, check_resumable, repair_tail

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"


def _copy(tmp_path: Path, name: str = "r.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(FIXTURE.read_bytes())
    return path


def _ok_case() -> dict[str, Any]:
    return next(c.to_json() for c in read(FIXTURE).cases if c.status == "ok")


def test_torn_tail_is_cut_before_the_next_append(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    good = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(b'{"kind": "case", "case_id": "torn", "sta')  # a kill or full disk mid-write
    writer = ResultsWriter(path)
    assert writer.repaired == len(b'{"kind": "case", "case_id": "torn", "sta')
    assert path.read_bytes() == good
    writer.append({"kind": "case", "case_id": "next", "status": "skipped", "reason": "x"})
    s = scan(path)
    assert s.problems == [] and (None, "next") in s.cases  # keyed by (machine, case id)
    assert repair_tail(path) == 0


def test_torn_tail_without_any_newline_is_cut_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"x" * 200_000)
    assert repair_tail(path) == 200_000 and path.read_bytes() == b""


class _FullDisk:
    """``os.write`` that writes ``room`` bytes, then fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room, self.real = room, os.write

    def __call__(self, fd: int, data: Any) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.real(fd, bytes(data[: self.room]))
        self.room -= n
        return n


def test_full_disk_mid_record_leaves_no_torn_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(tmp_path)
    before = path.read_bytes()
    writer = ResultsWriter(path)
    monkeypatch.setattr(os, "write", _FullDisk(room=17))
    with pytest.raises(ResultsError) as info:
        writer.append({"kind": "case", "case_id": "x" * 100, "status": "skipped"})
    msg = str(info.value)
    assert msg.startswith(str(path)) and "No space left" in msg and "--resume" in msg
    assert "\n" not in msg
    monkeypatch.undo()
    assert path.read_bytes() == before  # cut back to the last complete line


def test_full_device_is_a_one_line_error(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    path = tmp_path / "results.jsonl"
    path.symlink_to("/dev/full")
    with pytest.raises(ResultsError, match="No space left on device"):
        ResultsWriter(path).append({"kind": "run", "schema": SCHEMA_VERSION})


MALFORMED = {
    "timing null": lambda c: {**c, "timing": None},
    "string median": lambda c: {**c, "timing": {**c["timing"], "median": "fast"}},
    "string shape": lambda c: {**c, "shape": "4096"},
    "no case id": lambda c: {k: v for k, v in c.items() if k != "case_id"},
    "int case id": lambda c: {**c, "case_id": 7},
    "status odd": lambda c: {**c, "status": "done"},
    "derived null": lambda c: {**c, "derived": None},
    "ratio string": lambda c: {**c, "timing": {**c["timing"], "ratio_to_relu": "x"}},
    "samples strings": lambda c: {**c, "timing": {**c["timing"], "samples": ["a"]}},
    "bool median": lambda c: {**c, "timing": {**c["timing"], "median": True}},
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_record_is_skipped_by_line_number_for_every_reader(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if name != "string shape":  # plots (slow) once
        monkeypatch.setattr("gembench.report.plots.write_plots", lambda *a, **k: ([], []))
    path = _copy(tmp_path)
    case = _ok_case()
    lines = path.read_text().splitlines()
    n_cases = len(read(path).cases)
    bad = MALFORMED[name]({**case, "case_id": "elementwise/bad/one"})
    lines.insert(1, json.dumps(bad))
    path.write_text("\n".join(lines) + "\n")

    problems: list[str] = []
    cases = read(path, problems=problems).cases
    assert len(cases) == n_cases and "elementwise/bad/one" not in {c["case_id"] for c in cases}
    assert len(problems) == 1 and problems[0].startswith("line 2: malformed case record")
    warnings: list[str] = []
    read(path, warn=warnings.append)
    assert warnings == [f"{path}: {problems[0]}"]
    # every reader runs on the clean records
    assert print_summary(path) >= 0
    cmp = compare_paths(path, FIXTURE)
    assert len(cmp.changes) >= 1
    from gembench.report.markdown import write_report

    out = write_report([path], tmp_path / "r.md")
    assert out.read_text().startswith("# gembench report")
    capsys.readouterr()


def test_garbage_lines_are_named(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3:3] = [b"not json\n", b"[1, 2]\n", b"\xff\xfe\n", b'{"kind": "run", "schema": 1}\n',
                  b'{"kind": "weird"}\n', b"[" * 5000 + b"\n"]
    path.write_bytes(b"".join(lines) + b'{"kind": "case", "case')
    problems: list[str] = []
    read(path, problems=problems)
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in (4, 5, 6, 7, 8, 9, 47)]
    assert "not a JSON record" in problems[0] and "found list" in problems[1]
    assert "not UTF-8" in problems[2] and "second run record" in problems[3]
    assert "unknown record kind" in problems[4] and "incomplete last line" in problems[6]


@pytest.mark.parametrize("damage", ["schema 2", "binary", "directory", "empty json", "fifo",
                                    "run record malformed"])
def test_resume_refuses_before_writing(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "results.jsonl"
    if damage == "schema 2":
        path.write_text(json.dumps({"kind": "run", "schema": SCHEMA_VERSION + 1}) + "\n")
    elif damage == "binary":
        path.write_bytes(bytes(range(256)) * 8)
    elif damage == "directory":
        path.mkdir()
    elif damage == "empty json":
        path.write_text("{}\n")
    elif damage == "fifo":
        os.mkfifo(path)
    else:
        path.write_text(json.dumps({"kind": "run", "schema": SCHEMA_VERSION,
                                    "environment": "x"}) + "\n")
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ResultsError) as info:
        check_resumable(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg
    if before is not None:
        assert path.read_bytes() == before


def test_lock_refuses_a_second_holder_naming_the_first(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        code = ("import sys; from gembench.results import RunLock, ResultsError\n"
                "try: RunLock(sys.argv[1])\n"
                "except ResultsError as e: print(e); sys.exit(3)\n")
        res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                             text=True, timeout=60, env={**os.environ,
                                                         "PYTHONPATH": str(Path.cwd())})
        assert res.returncode == 3, res.stderr
        assert f"pid {os.getpid()}" in res.stdout and "another gembench run" in res.stdout
    RunLock(tmp_path).release()  # free again once the holder let go
