"""``python -m gembench list`` and the CLI's handling of user mistakes."""

from __future__ import annotations

import os
import subprocess
import sys

import gembench


def test_list_prints_catalog_and_backends_with_reasons() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # set by conftest
    res = subprocess.run([sys.executable, "-m", "gembench", "list"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for name in gembench.activation_names():
        assert f"\n{name} " in out
    assert "N=1 (a positive integer)" in out and "eps=0.0001 (a number > 0)" in out
    assert "lam=1 (a number >= 1)" in out and "t=0.1 (a number > 0)" in out
    for name in gembench.backend_names():
        assert f"\n{name} " in out
    assert "TRITON_INTERPRET=1" in out  # why Triton cannot run on this CPU-only machine as is


def test_unknown_backend_for_accuracy_is_a_one_line_error() -> None:
    res = subprocess.run([sys.executable, "-m", "gembench", "accuracy", "tensorflow"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unknown backend 'tensorflow'" in res.stderr
    assert "Traceback" not in res.stderr
