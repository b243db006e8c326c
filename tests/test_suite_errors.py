"""Broken suite files give one clear error naming the file, key, expectation and finding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gembench.plan.suite import SuiteError, load_suite

GOOD = "activations: [gelu]\nbackends: [numpy]\n"

BROKEN = {
    "unknown activation": ("activations: [gelu, swish]\nbackends: [numpy]\n",
                           ["activations[1]", "unknown activation 'swish'", "gem"]),
    "bad parameter": ("activations: [{name: gem, params: {N: [1, 0]}}]\nbackends: [numpy]\n",
                      ["activations[0].params", "N must be a positive integer", "got 0"]),
    "negative eps": ("activations: [{name: e_gem, params: {eps: -1e-4}}]\nbackends: [numpy]\n",
                     ["activations[0].params", "eps must be a number > 0"]),
    "lambda below 1": ("activations: [{name: lambda_gelu, params: {lam: 0.5}}]\n"
                       "backends: [numpy]\n", ["lam must be a number >= 1"]),
    "unknown parameter": ("activations: [{name: gem, params: {eps: 1}}]\nbackends: [numpy]\n",
                          ["unknown parameter 'eps'", "parameters: N"]),
    "wrong type": (GOOD + "timing: {budget_s: fast}\n",
                   ["timing.budget_s", "expected number", "'fast'"]),
    "wrong type in list": (GOOD + "shapes: [[1024, x]]\n", ["shapes[0][1]", "'x'"]),
    "unknown key": (GOOD + "passess: [forward]\n",
                    ["unknown key 'passess'", "passes"]),
    "unknown dtype": (GOOD + "dtypes: [float8]\n",
                      ["dtypes[0]", "expected one of float64", "'float8'"]),
    "unknown backend": ("activations: [gelu]\nbackends: [tensorflow]\n",
                        ["backends[0]", "torch_eager", "'tensorflow'"]),
    "missing key": ("activations: [gelu]\n", ["'backends' is a required property"]),
    "empty file": ("", ["the file is empty"]),
    "not yaml": ("activations: [gelu\nbackends: {", ["not valid YAML", "line"]),
    "not a mapping": ("- gelu\n- relu\n", ["expected a mapping", "found list"]),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_suite_names_the_problem(tmp_path: Path, name: str) -> None:
    text, expected = BROKEN[name]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite(tmp_path / "nope.yaml")


def test_cli_prints_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN["bad parameter"][0])
    res = subprocess.run([sys.executable, "-m", "gembench", "run", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "N must be a positive integer" in res.stderr


def test_good_suite_expands_grid_and_adds_relu(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("activations: [{name: gem, params: {N: [1, 2]}}]\nbackends: [numpy]\n"
                    "passes: [forward]\nshapes: [1K, {sweep: [4, 6]}]\n")
    suite = load_suite(path)
    labels = {c.label for c in suite.cases}
    assert labels == {"relu", "gem(N=1)", "gem(N=2)"}
    assert {c.shape for c in suite.cases} == {(1024,), (16,), (32,), (64,)}
    assert len(suite.cases) == 3 * 4 * 2  # elementwise: hot and cold by default


def test_shipped_suites_are_valid() -> None:
    for path in sorted(Path("suites").glob("*.yaml")):
        assert load_suite(path).cases, path
