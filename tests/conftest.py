"""Shared fixtures: the catalog cases every backend is checked on; the clone's ``reports/`` and
``results/`` left as they were (reports written without ``--out`` go to a temporary folder)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Triton kernels run in the interpreter on machines without a GPU.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

import gembench
from gembench.activations.catalog import CHECK_CONFIGS
from gembench.report.markdown import REPORT_DIR_ENV

ROOT = Path(__file__).resolve().parent.parent
#: what the tests must not add to: the clone's output folders (CI's test artifacts excepted).
GUARDED = ("reports", "results")
_REPORTS = tempfile.mkdtemp(prefix="gembench-test-reports-")
os.environ[REPORT_DIR_ENV] = _REPORTS  # inherited by the gembench processes tests start


#: exit statuses of a ``gembench run`` whose records are all written: 0, or 3 when a headline
#: figure was withheld because the machine was busy (a loaded CI runner). Tests of what a run
#: writes accept both; the busy exit itself is tested in test_trust.py.
RUN_OK = (0, 3)


def _outputs() -> set[str]:
    """Every file under the clone's guarded folders, relative to the clone."""
    found = set()
    for name in GUARDED:
        for p in (ROOT / name).rglob("*"):
            rel = p.relative_to(ROOT).as_posix()
            if p.is_file() and not rel.startswith("reports/test-artifacts/"):
                found.add(rel)
    return found


@pytest.fixture(scope="session", autouse=True)
def clone_outputs_unchanged() -> Iterator[None]:
    """Fail the session if a test wrote into the clone's ``reports/`` or ``results/``."""
    before = _outputs()
    yield
    shutil.rmtree(_REPORTS, ignore_errors=True)
    added = sorted(_outputs() - before)
    if added:
        pytest.fail(f"tests wrote {len(added)} file(s) into the clone: {', '.join(added[:10])}"
                    " (write to tmp_path, or pass --out)", pytrace=False)

#: Activations at defaults plus the papers' parameters (one list, shared with
#: ``gembench accuracy``).
SPEC_ARGS: list[tuple[str, dict]] = CHECK_CONFIGS


def spec_id(arg: tuple[str, dict]) -> str:
    return gembench.activation(arg[0], **arg[1]).label


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A fresh registry of plugin implementations: what a test registers in this process (a
    suite's ``plugins:``, a decorated function) leaks into no other test."""
    from gembench.backends import plugins, registry

    for attr in ("REGISTRY", "FAILED", "_loaded"):
        monkeypatch.setattr(plugins, attr, {})
    monkeypatch.setattr(registry, "_instances", {})
    return plugins.REGISTRY
