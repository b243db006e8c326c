"""Fuzz: a generated corpus of damaged suite files and results files through the command line.

Every invocation must end with exit code 0, 1 or 2, raise nothing, print no traceback, and
print at most one error line, which names the file (issue 12). The corpus is generated from a
fixed seed (``GEMBENCH_FUZZ_SEED`` picks another) and bounded so that the file runs in well
under a minute; cases run in a fake worker (the storage and validation layers are what is
fuzzed, not the kernels).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RUN_OK
from test_reliability_cli import FakeWorker

from gembench.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("GEMBENCH_FUZZ_SEED", "20261125"))
N_SUITES = 300
N_RESULTS = 80
FILTER = "activation=relu,pass=forward*,dtype=float32"

#: values a careless or hostile user might put anywhere.
NASTY: list[Any] = [
    None, True, False, 0, -1, 1, 3, 2.0, 1.5, 1e6, 1e300, -1e300, math.nan, math.inf, -math.inf,
    2**70, -0.0, "", "x" * 500, "all", "1K", "gem", "../../x", "/etc/passwd", [], {}, [[[]]],
    [1e6], [0], [1, 2, 3, 4, 5, 6, 7, 8, 9], {"sweep": [24, 10]}, {"sweep": [10, 4.0e1]},
    {"sweep": [1, 1e300]}, {"name": "gem", "params": {"N": [1, 1e308]}}, {"a": 1}, {1: 2},
    ["numpy", "numpy"], "caching", "forward_backward", "mlp_block", "conv_block", "cuda",
    {"timeout_s": math.nan}, {"min_samples": 50, "max_samples": 10}, [{"timing": {"warmup": -1}}],
]


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*path, i))


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    if isinstance(data, dict):
        return {**data, path[0]: _replace(data[path[0]], path[1:], value)}
    out = list(data)
    out[path[0]] = _replace(out[path[0]], path[1:], value)
    return out


def _mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    how = rng.randrange(6)
    if how == 0:
        return raw[: rng.randrange(len(raw) + 1)]
    if how == 1:
        i = rng.randrange(len(raw))
        return raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:]
    if how == 2:
        i = rng.randrange(len(raw) + 1)
        return raw[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20))) + raw[i:]
    if how == 3:
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00"]) + raw
    if how == 4:
        return raw.decode("utf-8", "replace").encode(rng.choice(["utf-16", "latin-1"]),
                                                      "replace")
    lines = raw.splitlines(keepends=True)
    rng.shuffle(lines)
    return b"".join(lines)


def suite_corpus(rng: random.Random, n: int) -> list[bytes]:
    from gembench.plan.suite import _Loader

    tiny = {"activations": ["gelu", {"name": "gem", "params": {"N": [1, 2]}}],
            "backends": ["numpy"], "shapes": ["1K", [64, 16], {"sweep": [4, 6]}],
            "passes": ["forward"], "timing": {"budget_s": 0.01, "min_samples": 3},
            "groups": [{"dtypes": ["float32"]}, {"dtypes": ["float64"], "timing":
                                                  {"timeout_s": 5}}]}
    bases = [tiny] + [yaml.load(p.read_text(), Loader=_Loader)
                      for p in sorted((ROOT / "suites").glob("*.yaml"))]
    corpus: list[bytes] = []
    while len(corpus) < n:
        data = rng.choice(bases)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            path = rng.choice(list(_paths(data)))
            roll = rng.random()
            if roll < 0.7 or not path:
                data = _replace(data, path, rng.choice(NASTY))
            elif roll < 0.85 and isinstance(data, dict):
                data = {k: v for k, v in data.items() if k != path[0]}
            elif isinstance(data, dict):
                data = {**data, rng.choice(["timing", "seed", "name", "shapes", "unknown"]):
                        rng.choice(NASTY)}
        text = yaml.safe_dump(data, allow_unicode=True).encode() if isinstance(data, dict) \
            else json.dumps(data, default=str).encode()
        corpus.append(_mutate_bytes(rng, text) if rng.random() < 0.3 else text)
    return corpus


def results_corpus(rng: random.Random, good: bytes, n: int) -> list[bytes]:
    lines = good.splitlines(keepends=True)
    records = [json.loads(x) for x in lines]
    corpus: list[bytes] = [b"", b"\n", bytes(range(256)) * 8, b"{}\n", b"[]\n" * 3, good[:-1]]
    while len(corpus) < n:
        roll = rng.random()
        if roll < 0.5:  # a nasty value somewhere in one record
            i = rng.randrange(len(records))
            path = rng.choice(list(_paths(records[i]))[1:])
            recs = list(records)
            recs[i] = _replace(recs[i], path, rng.choice([*NASTY, "ok", "failed", "case"]))
            body = b"".join(json.dumps(r, default=str).encode() + b"\n" for r in recs)
        elif roll < 0.8:
            body = _mutate_bytes(rng, good)
        else:  # lines dropped, doubled, or moved
            ls = list(lines)
            for _ in range(rng.randrange(1, 4)):
                j = rng.randrange(len(ls))
                ls.insert(rng.randrange(len(ls) + 1), ls[j] if rng.random() < 0.5 else b"x\n")
            body = b"".join(ls)
        corpus.append(body)
    return corpus


class Outcome:
    """Tallies invocations and what went wrong."""

    def __init__(self) -> None:
        self.runs = 0
        self.codes: dict[int, int] = {}
        self.bad: list[str] = []
        self.errors: list[str] = []

    def check(self, what: str, argv: list[str], names: list[str], capsys: Any) -> None:
        self.runs += 1
        try:
            rc = main(argv)
        except BaseException as exc:  # anything escaping main would be a traceback
            capsys.readouterr()
            self.bad.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
            return
        err = capsys.readouterr().err
        self.codes[rc] = self.codes.get(rc, 0) + 1
        errors = [ln for ln in err.splitlines() if ln.startswith("gembench: error")]
        if rc not in (0, 1, 2) or "Traceback" in err or len(errors) > 1 or (
                rc == 2 and (len(errors) != 1 or not any(n in errors[0] for n in names))):
            self.bad.append(f"{what}: exit {rc}: {err[-300:]!r}")
        self.errors.extend(errors)


@pytest.fixture
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeWorker.calls, FakeWorker.interrupt_at = [], None
    monkeypatch.setattr("gembench.engine.running.workers.Worker", FakeWorker)
    monkeypatch.setattr("gembench.report.plots.write_plots", lambda *a, **k: ([], []))
    # py-cpuinfo is slow
    monkeypatch.setattr("gembench.engine.running.runner.capture", lambda path: _ENV)
    monkeypatch.chdir(tmp_path)


_ENV = {"fuzz": True}


@pytest.mark.slow
def test_fuzz_suite_files(tmp_path: Path, quiet: None, capsys: Any,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gembench.cli.run._write_report", lambda *a, **k: None)
    rng = random.Random(SEED)
    out = Outcome()
    for i, raw in enumerate(suite_corpus(rng, N_SUITES)):
        path = tmp_path / f"suite{i}.yaml"
        path.write_bytes(raw)
        out.check(f"suite{i}.yaml", ["run", str(path), "--out", f"o{i}", "--no-progress",
                                     "--filter", FILTER], [str(path), f"o{i}"], capsys)
    print(f"suites: {out.runs} runs, exit codes {out.codes}, problems {len(out.bad)}")
    assert not out.bad, "\n".join(out.bad[:10])
    assert out.codes.get(0, 0) > 20 and out.codes.get(2, 0) > 50  # the corpus hits both


@pytest.mark.slow
def test_fuzz_results_files(tmp_path: Path, quiet: None, capsys: Any) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("activations: [gelu, silu]\nbackends: [numpy]\nshapes: [1K, 64K]\n"
                     "passes: [forward, backward]\ntiming: {budget_s: 0.01, min_samples: 3}\n")
    assert main(["run", str(suite), "--out", "base", "--no-progress"]) in RUN_OK
    fixture = (ROOT / "tests" / "data" / "results-small.jsonl").read_bytes()
    own = (tmp_path / "base" / "results.jsonl").read_bytes()
    capsys.readouterr()
    rng = random.Random(SEED + 1)
    out = Outcome()
    for i, raw in enumerate(results_corpus(rng, fixture, N_RESULTS // 2)
                            + results_corpus(rng, own, N_RESULTS - N_RESULTS // 2)):
        d = tmp_path / f"r{i}"
        d.mkdir()
        res = d / "results.jsonl"
        res.write_bytes(raw)
        names = [str(res), str(d)]
        out.check(f"r{i} report", ["report", str(res), "--out", f"rep{i}.md"], names, capsys)
        out.check(f"r{i} compare", ["compare", str(res), str(tmp_path / "base")], names,
                  capsys)
        out.check(f"r{i} resume", ["run", str(suite), "--out", str(d), "--resume",
                                   "--no-progress"], names, capsys)
    print(f"results: {out.runs} runs, exit codes {out.codes}, problems {len(out.bad)}")
    assert not out.bad, "\n".join(out.bad[:10])
    assert out.codes.get(0, 0) > 20 and out.codes.get(2, 0) > 20


@pytest.mark.slow
def test_fuzz_samples_in_real_processes(tmp_path: Path) -> None:
    """A few corpus files through ``python -m gembench`` itself (real stderr, real exit)."""
    rng = random.Random(SEED + 2)
    suites = suite_corpus(rng, 40)[:2]
    runs = []
    for i, raw in enumerate(suites):
        path = tmp_path / f"s{i}.yaml"
        path.write_bytes(raw)
        runs.append(["run", str(path), "--out", str(tmp_path / f"o{i}"), "--filter",
                     "backend=nomatch"])
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(bytes(range(256)) * 8)
    runs.append(["report", str(bad)])
    for argv in runs:
        res = subprocess.run([sys.executable, "-m", "gembench", *argv], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("gembench: error")]
        assert len(errors) == 1 and (argv[1] in errors[0] or "--filter" in errors[0])
