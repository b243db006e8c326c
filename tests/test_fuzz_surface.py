"""Fuzz the commands after ``run`` (issue 23): generated damaged results files through merge,
export, report --html and compare, and generated ``--shard`` values through run.

Every invocation must end with exit 0, 1 or 2, no traceback and at most one error line naming a
file or option (as tests/test_fuzz.py); beyond that: no input file is ever changed, a merge
loses and doubles no record and writes a complete file, and a reader of an incomplete file
says so. The corpus comes from a fixed seed (``GEMBENCH_FUZZ_SEED`` picks another); cases run
in a fake worker and plots are off, so the whole file takes well under a minute.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_fuzz import NASTY, SEED, Outcome, _paths, _replace, results_corpus
from test_reliability_cli import FakeWorker
from test_reliability_surface import FIXTURE, v2

from gembench.cli import main
from gembench.results import read_records
from gembench.results.merge import load_source
from gembench.results.store import ResultsError, scan

N_FILES = 320
FORMATS = ["github-action-benchmark", "bmf", "pytest-benchmark"]
SHARDS = ["", "1/1", "3/3", "2/5", "0/1", "1/0", "a/b", "1/10000", "10000/10000", "1/10001",
          " 1/2", "1//2", "１/２", "9" * 50 + "/1", "-1/2", "1/2\n", "2/2", "1.0/2", "0x1/2"]


def _damage(rng: random.Random, good: bytes) -> bytes:
    """What a kill, a full disk or a careless edit leaves: a cut at a line, the end mark gone,
    miscounted or followed by records, run records doubled, a schema or run id changed."""
    lines = good.splitlines(keepends=True)
    recs = [json.loads(x) for x in lines]
    how = rng.randrange(6)
    if how == 0:
        return b"".join(lines[: rng.randrange(1, len(lines) + 1)])
    if how == 1:
        recs[-1]["records"] = rng.choice(NASTY)
    elif how == 2:
        recs.append(rng.choice(recs[1:-1]))
    elif how == 3:
        recs.insert(rng.randrange(1, len(recs)), dict(recs[0]))
    elif how == 4:
        recs[0]["schema"] = rng.choice([99, 0, "2", None, 2.0, True, 1])
    else:
        path = rng.choice(list(_paths(recs[0]))[1:])
        recs[0] = _replace(recs[0], path, rng.choice(NASTY))
    return b"".join(json.dumps(r, default=str).encode() + b"\n" for r in recs)


def corpus(rng: random.Random, bases: list[bytes], n: int) -> list[bytes]:
    out: list[bytes] = []
    while len(out) < n:
        base = rng.choice(bases)
        out += [_damage(rng, base)] if rng.random() < 0.5 else results_corpus(rng, base, 7)[6:]
    return out[:n]


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "-" for p in paths]


def _incomplete(path: Path) -> bool:
    try:
        return any("incomplete" in n for n in scan(path).notes)
    except (OSError, ResultsError, ValueError):
        return False


class Campaign(Outcome):
    """The outcome tally, plus the checks of issue 23 after each command."""

    def __init__(self, capsys: Any) -> None:
        super().__init__()
        self.capsys = capsys

    def command(self, what: str, argv: list[str], inputs: list[Path], names: list[str]) -> int:
        before = _digest(inputs)
        rc0 = len(self.bad)
        self.runs += 1
        try:
            rc = main(argv)
        except BaseException as exc:  # a traceback
            self.capsys.readouterr()
            self.bad.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
            return -1
        err = self.capsys.readouterr().err
        self.codes[rc] = self.codes.get(rc, 0) + 1
        errors = [ln for ln in err.splitlines() if ln.startswith("gembench: error")]
        if rc not in (0, 1, 2) or "Traceback" in err or len(errors) > 1 or (
                rc == 2 and (len(errors) != 1 or not any(n in errors[0] for n in names))):
            self.bad.append(f"{what}: exit {rc}: {err[-300:]!r}")
        if _digest(inputs) != before:
            self.bad.append(f"{what}: an input file changed")
        if rc in (0, 1) and argv[0] != "merge" and any(map(_incomplete, inputs)) \
                and "incomplete" not in err:
            self.bad.append(f"{what}: read an incomplete file without a word")
        return rc if len(self.bad) == rc0 else -1


def check_merged(out: Path, sources: list[Path]) -> list[str]:
    """0 lost, 0 doubled records; run records once; the file complete."""
    want: set[tuple[Any, str]] = set()
    for s in dict.fromkeys(sources):
        want |= {(c["machine_key"], c["case_id"]) for c in load_source(s, force=True).cases}
    recs = list(read_records(out))
    got = Counter((r["machine_key"], r["case_id"]) for r in recs if r.get("kind") == "case")
    runs = Counter(r["run_id"] for r in recs if r.get("kind") == "run")
    problems = []
    if set(got) != want:
        problems.append(f"lost {len(want - set(got))}, extra {len(set(got) - want)} records")
    if max(got.values(), default=1) > 1 or max(runs.values(), default=1) > 1:
        problems.append("a record doubled")
    if any(n.startswith("incomplete") for n in scan(out).notes):
        problems.append("the merged file is not complete")
    return [f"{out}: {p}" for p in problems]


def _files(tmp_path: Path) -> tuple[list[Path], Path]:
    """The damaged corpus on disk, one run directory each, and a good version-2 file."""
    good = v2(tmp_path / "good" / "results.jsonl")
    assert main(["merge", str(FIXTURE), str(good), "--out", str(tmp_path / "merged"),
                 "--force"]) == 0
    bases = [FIXTURE.read_bytes(), good.read_bytes(),
             (tmp_path / "merged" / "results.jsonl").read_bytes()]
    files = []
    for i, raw in enumerate(corpus(random.Random(SEED + 23), bases, N_FILES)):
        path = tmp_path / f"f{i}" / "results.jsonl"
        path.parent.mkdir()
        path.write_bytes(raw)
        files.append(path)
    return files, good


@pytest.fixture
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeWorker.calls, FakeWorker.interrupt_at = [], None
    monkeypatch.setattr("gembench.engine.running.workers.Worker", FakeWorker)
    monkeypatch.setattr("gembench.report.plots.write_plots", lambda *a, **k: ([], []))
    monkeypatch.setattr("gembench.engine.running.runner.capture", lambda path: {"fuzz": True})
    monkeypatch.setattr("gembench.cli.run._write_report", lambda *a, **k: None)
    monkeypatch.chdir(tmp_path)


def _out_for(rng: random.Random, i: int, inputs: list[Path], tmp_path: Path) -> str:
    """An --out a user might give: fresh, an input, a file, below a file, far too long."""
    return rng.choice([f"o{i}", f"o{i}", str(inputs[0]), str(inputs[0].parent),
                       str(tmp_path / "good" / "results.jsonl" / "x"), "a" * 300,
                       f"o{i}/deeper"])


@pytest.mark.slow
def test_fuzz_merge_export_html_compare(tmp_path: Path, quiet: None, capsys: Any) -> None:
    files, good = _files(tmp_path)
    rng = random.Random(SEED + 24)
    camp = Campaign(capsys)
    for i, f in enumerate(files):
        other = rng.choice([good, f, FIXTURE, rng.choice(files), tmp_path / "merged"])
        names = [str(f), str(f.parent), str(other), "--out", "--html", "--format"]
        kind = i % 4
        if kind == 0:
            srcs = [f, other] if rng.random() < 0.8 else [f]
            argv = ["merge", *map(str, srcs), "--out", _out_for(rng, i, srcs, tmp_path)]
            argv += ["--force"] if rng.random() < 0.5 else []
            if camp.command(f"f{i} merge", argv, [*srcs, good], names) == 0:
                out = Path(argv[argv.index("--out") + 1]) / "results.jsonl"
                srcs = [s / "results.jsonl" if s.is_dir() else s for s in srcs]
                camp.bad += check_merged(out, srcs)
        elif kind == 1:
            argv = ["export", str(f), "--format", rng.choice(FORMATS)]
            argv += ["--out", rng.choice([f"e{i}.json", str(f), str(good)])] \
                if rng.random() < 0.7 else []
            if camp.command(f"f{i} export", argv, [f, good], names) == 0 and "--out" in argv:
                json.loads(Path(argv[-1]).read_text(encoding="utf-8"))  # valid JSON
        elif kind == 2:
            argv = ["report", str(rng.choice([f, f.parent])), "--html",
                    rng.choice([f"h{i}.html", str(f), str(good)])]
            camp.command(f"f{i} html", argv, [f, good], names)
        else:
            camp.command(f"f{i} compare", ["compare", str(f), str(other)], [f, other], names)
    print(f"surface: {len(files)} generated files, {camp.runs} commands, exit codes "
          f"{camp.codes}, problems {len(camp.bad)}")
    assert not camp.bad, "\n".join(camp.bad[:10])
    assert camp.codes.get(0, 0) > 50 and camp.codes.get(2, 0) > 50  # both paths exercised


@pytest.mark.slow
def test_fuzz_shards(tmp_path: Path, quiet: None, capsys: Any) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu]\nbackends: [numpy]\nshapes: [1K, 64K]\n"
                     "dtypes: [float32]\npasses: [forward]\ncache: hot\n")
    rng = random.Random(SEED + 25)
    specs = SHARDS + [f"{rng.randrange(-2, 12)}/{rng.randrange(-2, 12)}" for _ in range(20)]
    camp = Campaign(capsys)
    for i, spec in enumerate(specs):
        FakeWorker.calls = []
        argv = ["run", str(suite), f"--shard={spec}", "--out", f"s{i}", "--no-progress"]
        rc = camp.command(f"--shard {spec!r}", argv, [suite], ["--shard", str(suite)])
        if rc == 0:
            kinds = [r["kind"] for r in read_records(Path(f"s{i}") / "results.jsonl")]
            if kinds[-1] != "end" or len(FakeWorker.calls) > 4:
                camp.bad.append(f"--shard {spec!r}: {kinds[-1]}, {len(FakeWorker.calls)} cases")
    for n in (1, 2, 3, 7):  # every shard of n: the whole suite exactly once
        seen: Counter[str] = Counter()
        for i in range(1, n + 1):
            FakeWorker.calls = []
            assert main(["run", str(suite), "--shard", f"{i}/{n}", "--out", f"w{n}-{i}",
                         "--no-progress"]) == 0
            seen.update(c for c, _ in FakeWorker.calls)
        assert len(seen) == 4 and set(seen.values()) == {1}, (n, seen)
    print(f"shards: {camp.runs} runs, exit codes {camp.codes}, problems {len(camp.bad)}")
    assert not camp.bad, "\n".join(camp.bad[:10])
