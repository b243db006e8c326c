"""The package as a user gets it: build the wheel, install it in a fresh virtual environment and
run the built-in smoke suite by name from an empty directory, outside the clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: a handful of cases of the quick smoke suite (ReLU baselines come with them)
FILTER = "activation=gem,backend=torch_eager,pass=forward,cache=hot"


def _call(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f"{cmd}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """The wheel of a copy of the sources (the build leaves build/ and *.egg-info behind)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "gembench", src / "gembench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _call([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--no-index", "-q", "-w", tmp / "dist", "./src"], tmp, env)
    (wheel,) = (tmp / "dist").glob("gembench-*.whl")
    return wheel


def _venv(tmp: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A fresh venv holding the wheel; torch and the other dependencies come from the
    interpreter running the tests (its site-packages, listed in a .pth file)."""
    venv = tmp / "venv"
    _call([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv], tmp,
          env)
    python = venv / "bin" / "python"
    site = Path(_call([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                      tmp, env).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz-test-deps.pth").write_text("".join(f"{p}\n" for p in ours))
    _call([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
           "--no-index", "--ignore-installed", wheel], tmp, env)
    return venv / "bin"


@pytest.mark.slow
def test_the_wheel_runs_the_builtin_smoke_suite_from_an_empty_directory(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="builds the wheel without build isolation (offline)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GEMBENCH_REPORT_DIR", "PIP_CONSTRAINT")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    wheel = _build_wheel(tmp_path, env)
    bin_dir = _venv(tmp_path, wheel, env)
    home = tmp_path / "empty"
    home.mkdir()
    where = _call([bin_dir / "python", "-c", "import gembench; print(gembench.__file__)"],
                  home, env).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the wheel, not the clone
    assert "smoke" in _call([bin_dir / "gembench", "list"], home, env).stdout

    run = _call([bin_dir / "gembench", "run", "smoke", "--quick", "--no-progress",
                 "--filter", FILTER, "--out", "run"], home, env)
    assert "suite smoke: 2 of " in run.stderr, run.stderr
    records = [json.loads(x) for x in (home / "run" / "results.jsonl").read_text().splitlines()]
    gem = [r for r in records if r["kind"] == "case" and r["activation"] == "gem"]
    assert len(gem) == 2 and all(r["status"] == "ok" for r in gem), gem
    report = _call([bin_dir / "gembench", "report", "run"], home, env)
    path = home / report.stdout.split("report: ", 1)[1].strip()
    assert path.parent == home / "reports" and path.read_text().startswith("# gembench report")
