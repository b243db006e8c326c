"""Plugins that misbehave (issue 23): an import that exits, hangs or prints; outputs of the wrong
dtype, shape or type, NaN, an exception after a few calls; a name already taken. Each becomes an
unavailable backend or a failed case with its reason, never an ended, hung or crashed run and
never a figure in a table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gembench.backends import plugins

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "plugins"
REASONS = ("import json, gembench\nprint(json.dumps({n: gembench.backend(n).availability().reason"
           " for n in gembench.backend_names()}))")





def _load(name: str) -> str | None:
    return plugins.load(str(FIXTURES / name), origin="test")


@pytest.mark.parametrize("code", ["0", "3"])
def test_sys_exit_at_import_is_a_reason(code: str, registry: dict,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMBENCH_TEST_EXIT", code)
    assert _load("plugin_exit.py") == f"importing {FIXTURES / 'plugin_exit.py'} called " \
                                      f"sys.exit({int(code)})"


def test_a_hanging_import_is_bounded(registry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.TIMEOUT_VAR, "0.5")
    t0 = time.monotonic()
    reason = _load("plugin_hangs.py")
    assert time.monotonic() - t0 < 5
    assert reason is not None and "did not finish within 0.5 s" in reason


def test_prints_at_import_go_to_stderr(registry: dict, capfd: pytest.CaptureFixture[str]
                                       ) -> None:
    assert _load("plugin_prints.py") is None
    out, err = capfd.readouterr()
    assert "hello from the import" in err and "hello" not in out
    assert "chatty_gem" in registry


def test_a_taken_name_is_refused_not_replaced(registry: dict) -> None:
    assert _load("plugin_gem.py") is None
    first = registry["test_gem"]
    reason = _load("plugin_same_name.py")
    assert reason is not None and "'test_gem'" in reason and "already registered" in reason
    assert registry["test_gem"] is first  # the earlier one stays
    with pytest.raises(plugins.PluginError, match="built-in backend"):
        plugins.register_implementation(lambda x: x, name="numpy", activations=["gem"])


@pytest.mark.parametrize("name, why", [
    ("f64_gem", "returned float64 (4096,) on cpu for a float32 (4096,) input"),
    ("flat_gem", "returned float32 (4095,)"),
    ("list_gem", "returned list, not a tensor"),
    ("nan_gem", "inaccurate"),
    ("flaky_gem", "flaky_gem gives up after 3 calls"),
])
def test_wrong_outputs_fail_the_case_with_the_reason(name: str, why: str,
                                                     registry: dict) -> None:
    from gembench.engine.running.group import measure_one
    from gembench.spec.cases import Case
    from gembench.spec.policy import Timing

    assert _load("plugin_bad_outputs.py") is None
    case = Case(backend=name, activation="gem", params={"N": 1}, shape=(4096,),
                pass_="forward", dtype="float32")
    body = measure_one(case, Timing(budget_s=0.01, min_samples=3, warmup=1), seed=0)
    assert body["status"] == "failed" and why in body["reason"], body.get("reason")
    if name != "nan_gem":  # timed, then failed by the gate: reports show ok cases only
        assert body.get("timing") is None


def test_list_and_run_survive_every_bad_plugin(tmp_path: Path) -> None:
    """``list`` in a real process with every misbehaving plugin: exit 0, each unavailable with
    its reason, stdout only gembench's own table; a suite naming one is a one-line error."""
    bad = ["plugin_exit.py", "plugin_hangs.py", "plugin_same_name.py"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(ROOT)]),
           "GEMBENCH_PLUGINS": ",".join(str(FIXTURES / b) for b in ["plugin_gem.py", *bad,
                                                                     "plugin_prints.py"]),
           plugins.TIMEOUT_VAR: "8", "GEMBENCH_TEST_EXIT": "0"}
    res = subprocess.run([sys.executable, "-m", "gembench", "list"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "hello from the import" not in res.stdout and "unavailable" in res.stdout
    res = subprocess.run([sys.executable, "-c", REASONS], capture_output=True, text=True,
                         env=env, timeout=120)
    why = json.loads(res.stdout.splitlines()[-1])
    assert "called sys.exit(0)" in why[str(FIXTURES / "plugin_exit.py")]
    assert "did not finish within 8 s" in why[str(FIXTURES / "plugin_hangs.py")]
    assert "already registered" in why[str(FIXTURES / "plugin_same_name.py")]
    assert why["test_gem"] == "" and why["chatty_gem"] == ""
    suite = tmp_path / "s.yaml"
    suite.write_text("plugins: [" + str(FIXTURES / "plugin_exit.py") + "]\n"
                     "activations: [gem]\nbackends: [numpy]\nshapes: [1K]\n")
    env["GEMBENCH_PLUGINS"], env["GEMBENCH_TEST_EXIT"] = "", "3"
    res = subprocess.run([sys.executable, "-m", "gembench", "run", str(suite), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, env=env,
                         timeout=120)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("gembench: error")]
    assert res.returncode == 2 and len(errors) == 1 and "sys.exit(3)" in errors[0], res.stderr
    assert not (tmp_path / "o" / "results.jsonl").exists()
