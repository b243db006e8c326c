"""Implementations registered from outside gembench (gembench/backends/plugins.py) and backends
named in GEMBENCH_BACKENDS: found, listed, run through the same gate; mistakes never crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import RUN_OK

import gembench
from gembench.backends import plugins
from gembench.backends.plugins import PluginError, register_implementation

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "plugins"
EXAMPLE = ROOT / "examples" / "custom_implementation"
PYTHONPATH = os.pathsep.join([str(FIXTURES), str(ROOT)])
TINY = ("activations: [gem]\nshapes: [1K]\npasses: [forward]\ncache: hot\n"
        "timing: {budget_s: 0.01, min_samples: 3, warmup: 1, timeout_s: 60}\n")


def _gembench(args: list[str], cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": PYTHONPATH, **env}
    for key in ("GEMBENCH_PLUGINS", "GEMBENCH_BACKENDS"):
        if key not in env:
            full.pop(key, None)
    if cwd != ROOT:  # outside the clone the report goes to the default reports/ in cwd
        full.pop("GEMBENCH_REPORT_DIR", None)
    return subprocess.run([sys.executable, "-m", "gembench", *args], capture_output=True,
                          text=True, cwd=cwd, env=full, timeout=300)


REASONS = ("import json, gembench\nprint(json.dumps({n: gembench.backend(n).availability().reason"
           " for n in gembench.backend_names()}))")


def _reasons(**env: str) -> dict[str, str]:
    """name -> why it is unavailable ("" when available), for every backend, in a fresh process
    with ``env`` (the list wraps long reasons over lines)."""
    res = subprocess.run([sys.executable, "-c", REASONS], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": PYTHONPATH, **env}, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _rows(out: str) -> dict[str, str]:
    """First word of each printed line -> the line (the list's table rows; a wrapped cell's
    continuation lines, which start with spaces, are not rows)."""
    return {line.split()[0]: line for line in out.splitlines() if line[:1].strip()}





# ---- registration


def test_a_function_registers_and_builds_with_a_relu_baseline(registry: dict) -> None:
    @register_implementation(name="sq_gem", activations=["gem"], dtypes=["float64"],
                             autograd=False, saves="x",
                             backward=lambda dy, *, x, N: dy * 2 * x.clamp(min=0))
    def sq_gem(x, N=1):
        return x.clamp(min=0) ** 2

    assert "sq_gem" in gembench.backend_names()
    be = gembench.backend("sq_gem")
    kern = be.build(gembench.activation("gem"), "float64", "cpu")
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    (dx,) = torch.autograd.grad(kern.forward(x), x, torch.ones_like(x))
    assert torch.equal(dx, 2 * x.detach().clamp(min=0))  # the user's backward ran
    assert kern.saves.what == "x"
    relu = be.build(gembench.activation("relu"), "float64", "cpu")
    assert type(relu).__name__ == "EagerKernel"  # torch_eager's ReLU is the baseline
    assert be.unsupported(gembench.activation("silu"), "float64", "cpu") == (
        "sq_gem implements gem, not silu")
    assert "does not support float32" in be.unsupported(gembench.activation("gem"),
                                                       "float32", "cpu")


@pytest.mark.parametrize("kwargs, message", [
    ({"activations": ["tanh"]}, "activations: expected one of relu"),
    ({"activations": ["gem"], "dtypes": ["int8"]}, "dtypes: expected one of float64"),
    ({"activations": ["gem"], "devices": ["tpu"]}, "devices: expected one of cpu, cuda"),
    ({"activations": ["gem"], "saves": "everything"}, "saves: expected one of x, y"),
    ({"activations": ["gem"], "autograd": False}, "autograd=False needs backward"),
    ({"activations": ["lambda_gelu_learnable"], "autograd": False, "saves": "x",
      "backward": abs}, "needs a Kernel subclass"),
    ({"activations": ["gem"], "name": "torch_eager"}, "name of a built-in backend"),
])
def test_registration_mistakes_say_what_is_wrong(registry: dict, kwargs: dict,
                                                 message: str) -> None:
    kwargs = {"name": "x_gem", **kwargs}
    with pytest.raises(PluginError, match=message.replace("(", r"\(")):
        register_implementation(lambda x: x, **kwargs)
    assert not registry


def test_a_class_must_be_a_kernel(registry: dict) -> None:
    with pytest.raises(PluginError, match="not a gembench Kernel subclass"):
        register_implementation(type("K", (), {}), name="k", activations=["gem"])


def test_learnable_parameters_reach_a_function_as_nn_parameters(registry: dict) -> None:
    seen = {}

    @register_implementation(name="my_lgelu", activations=["lambda_gelu_learnable"],
                             dtypes=["float64"])
    def my_lgelu(x, s, t):
        seen["s"] = s
        lam = 1 + torch.nn.functional.softplus(s / t)
        return x * 0.5 * torch.erfc(-lam * x / 2 ** 0.5)

    spec = gembench.activation("lambda_gelu_learnable", s=0.3)
    kern = gembench.backend("my_lgelu").build(spec, "float64", "cpu")
    x = torch.linspace(-3, 3, 31, dtype=torch.float64)
    dx, grads = kern.grads(x, torch.ones_like(x))
    assert isinstance(seen["s"], torch.nn.Parameter)
    want = gembench.backend("torch_fused").build(spec, "float64", "cpu").grads(
        x, torch.ones_like(x))
    assert torch.allclose(grads["s"], want[1]["s"]) and torch.allclose(dx, want[0])


# ---- the engine: same correctness gate, timing and memory


@pytest.mark.parametrize("name, status, saved", [
    ("test_gem", "ok", 1.0),  # its own backward, declared saves="x"
    ("test_gem_kernel", "ok", 6.0),  # autograd through the composed formula keeps more
    ("test_off_gem", "failed", None),
])
def test_registered_cases_pass_the_same_gate(name: str, status: str, saved: float,
                                             registry: dict) -> None:
    from gembench.engine.running.group import measure_one
    from gembench.spec.cases import Case
    from gembench.spec.policy import Timing

    assert plugins.load(str(FIXTURES / "plugin_gem.py"), origin="test") is None
    case = Case(backend=name, activation="gem", params={"N": 1}, shape=(4096,),
                pass_="forward_backward")
    body = measure_one(case, Timing(budget_s=0.01, min_samples=3, warmup=1), seed=0)
    assert body["status"] == status, body.get("reason")
    if status == "failed":
        assert "error" in body["reason"] and "eps" in body["reason"]
    else:
        assert body["timing"]["ratio_to_relu"]["median"] > 0
        assert body["memory"]["saved_ratio"] == pytest.approx(saved)  # measured
        assert body["error"]["backward_eps"] <= body["error"]["backward_tol"]


def test_a_registered_implementation_runs_inside_a_block(registry: dict) -> None:
    from gembench.engine.running.group import measure_one
    from gembench.spec.cases import Case
    from gembench.spec.policy import Timing

    assert plugins.load(str(FIXTURES / "plugin_gem.py"), origin="test") is None
    case = Case(backend="test_gem", activation="gem", params={"N": 2}, shape=(16, 32, 64),
                pass_="forward_backward", context="mlp_block")
    body = measure_one(case, Timing(budget_s=0.01, min_samples=3, warmup=1), seed=0)
    assert body["status"] == "ok", body.get("reason")
    assert body["block"]["activation_share"] > 0


# ---- finding plugins, and mistakes listed instead of crashing


def test_list_shows_plugins_and_every_bad_one_with_its_reason(tmp_path: Path) -> None:
    dist = tmp_path / "fake_gem-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-gem\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[gembench.implementations]\nep_ok = plugin_gem\nep_broken = plugin_raises\n"
        "ep_missing = plugin_gem:nothing_here\n")
    bad = ["no_such_module", "os:getcwd", "a:b:c", "plugin_wrong_class", "nope.py"]
    res = _gembench(["list"], GEMBENCH_PLUGINS=",".join(bad),
                    PYTHONPATH=os.pathsep.join([str(tmp_path), PYTHONPATH]))
    assert res.returncode in RUN_OK and "Traceback" not in res.stderr, res.stderr
    rows = _rows(res.stdout)
    assert "available" in rows["test_gem"].split()  # from the entry point
    assert "unavailable" in rows["ep_broken"] and "unavailable" in rows["ep_missing"]
    for ref in bad:
        assert ref in rows and "unavailable" in rows[ref], ref
    why = _reasons(GEMBENCH_PLUGINS=",".join(bad),
                   PYTHONPATH=os.pathsep.join([str(tmp_path), PYTHONPATH]))
    assert why["test_gem"] == "" and why["test_gem_kernel"] == ""
    assert "No module named 'no_such_module'" in why["no_such_module"]
    assert "not an implementation registered with" in why["os:getcwd"]
    assert "expected a module, module:attribute or a .py file, found 'a:b:c'" in why["a:b:c"]
    assert "the class NotAKernel is not a gembench Kernel subclass" in why["plugin_wrong_class"]
    assert "no such plugin file" in why["nope.py"]
    assert "RuntimeError: broken on purpose" in why["ep_broken"]
    assert "has no attribute 'nothing_here'" in why["ep_missing"]


BAD_BACKENDS = {
    "missing_class": ("plugin_gem:NoSuchBackend", "has no attribute 'NoSuchBackend'"),
    "getcwd": ("os:getcwd", "not a gembench Backend subclass"),
    "abc": ("a:b:c", "expected name=package.module:Class"),
    "raises": ("backend_raises:Backend", "RuntimeError: backend broken on purpose"),
    "gone": ("no_such_module:Backend", "cannot import: No module named 'no_such_module'"),
}


@pytest.mark.slow
def test_gembench_backends_mistakes_are_unavailable_in_list_and_skipped_in_run(
        tmp_path: Path) -> None:
    env = {"GEMBENCH_BACKENDS": ",".join(f"{k}={v[0]}" for k, v in BAD_BACKENDS.items())}
    res = _gembench(["list"], **env)
    assert res.returncode in RUN_OK and "Traceback" not in res.stderr, res.stderr
    rows, why = _rows(res.stdout), _reasons(**env)
    for name, (_, reason) in BAD_BACKENDS.items():
        assert "unavailable" in rows[name] and reason in why[name], name
    suite = tmp_path / "s.yaml"
    suite.write_text(TINY + f"backends: [{', '.join(BAD_BACKENDS)}]\n")
    res = _gembench(["run", str(suite), "--out", str(tmp_path / "out"), "--no-progress"], **env)
    assert res.returncode in RUN_OK and "Traceback" not in res.stderr, res.stderr
    lines = [r for r in map(json.loads, filter(str.strip, (
        tmp_path / "out" / "results.jsonl").read_text().split("\n"))) if r["kind"] == "case"]
    assert len(lines) == 2 * len(BAD_BACKENDS)  # gem and its relu baseline
    for rec in lines:
        assert rec["status"] == "skipped" and BAD_BACKENDS[rec["backend"]][1] in rec["reason"]


def test_a_suite_names_its_plugins(tmp_path: Path, registry: dict) -> None:
    from gembench.plan.suite import SuiteError, parse_suite

    (tmp_path / "mine.py").write_text(
        "import gembench\n"
        "@gembench.register_implementation(name='suite_gem', activations=['gem'])\n"
        "def f(x, N=1):\n    return x.clamp(min=0)\n")
    suite = parse_suite({"plugins": "mine.py", "activations": ["gem", "silu"],
                         "backends": ["suite_gem"]}, tmp_path / "s.yaml")
    assert {c.backend for c in suite.cases} == {"suite_gem"}
    be = gembench.backend("suite_gem")
    assert be.worker_env("cpu", "/tmp")["GEMBENCH_PLUGINS"].endswith(str(tmp_path / "mine.py"))
    for plugin, message in [("gone.py", "plugins[0]: no such plugin file"),
                            ("a:b:c", "plugins[0]: expected a module")]:
        with pytest.raises(SuiteError, match=message.replace("[", r"\[")):
            parse_suite({"plugins": [plugin], "activations": ["gem"], "backends": ["numpy"]},
                        tmp_path / "s.yaml")
    with pytest.raises(SuiteError, match="unknown key 'plugins'"):
        parse_suite({"activations": ["gem"], "backends": ["numpy"],
                     "groups": [{"plugins": ["mine.py"]}]}, tmp_path / "s.yaml")


# ---- the example


@pytest.mark.slow
def test_the_example_runs_from_outside_the_package(tmp_path: Path) -> None:
    """examples/custom_implementation/suite.yaml from another directory; the plugin reaches
    the worker processes through the suite's plugins key alone."""
    out = tmp_path / "out"
    res = _gembench(["run", str(EXAMPLE / "suite.yaml"), "--quick", "--filter",
                     "backend=my_*,pass=forward", "--out", str(out), "--no-progress"],
                    cwd=tmp_path)
    assert res.returncode in RUN_OK and "Traceback" not in res.stderr, res.stderr
    cases = [r for r in map(json.loads, filter(str.strip, (out / "results.jsonl").read_text(
        ).split("\n"))) if r["kind"] == "case"]
    by = {(c["backend"], c["label"]): c for c in cases}
    fused = by[("my_fused_gem", "gem(N=2)")]
    assert fused["status"] == "ok" and fused["error"]["forward_eps"] <= 16
    assert fused["memory"]["saved_ratio"] == pytest.approx(1.0)
    assert by[("my_fused_gem", "relu")]["status"] == "ok"
    triton = by[("my_triton_gem", "gem(N=1)")]
    if not torch.cuda.is_available():
        assert triton["status"] == "skipped" and "runs on cuda" in triton["reason"]
    assert (tmp_path / "reports").is_dir()  # the report is written where the user ran it


def test_the_example_triton_kernel_is_right_in_the_interpreter() -> None:
    """The example's Triton kernels against the reference, in Triton's CPU interpreter."""
    pytest.importorskip("triton")
    code = (
        "import sys, torch, numpy as np, gembench\n"
        f"from gembench.backends import plugins\nplugins.load({str(EXAMPLE / 'custom_gem.py')!r},"
        " origin='test')\n"
        "impl = plugins.REGISTRY['my_triton_gem']\n"
        "x = torch.linspace(-5, 5, 3001, dtype=torch.float32)\n"
        "for n in (1, 2):\n"
        "    y = impl.forward(x, N=n); dx = impl.backward(torch.ones_like(x), x=x, N=n)\n"
        "    spec = gembench.activation('gem', N=n)\n"
        "    want, dwant = gembench.reference(spec, x.double().numpy())\n"
        "    assert np.allclose(y.double().numpy(), want, rtol=1e-5, atol=1e-6), n\n"
        "    assert np.allclose(dx.double().numpy(), dwant, rtol=1e-5, atol=1e-6), n\n"
        "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)},
                         timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-2000:]


def test_reference_matches_the_example_fused_kernel(registry: dict) -> None:
    assert plugins.load(str(EXAMPLE / "custom_gem.py"), origin="test") is None
    impl = plugins.REGISTRY["my_fused_gem"]
    x = torch.linspace(-1e4, 1e4, 20001, dtype=torch.float64, requires_grad=True)
    for n in (1, 2):
        y = impl.forward(x, N=n)
        (dx,) = torch.autograd.grad(y, x, torch.ones_like(x))
        want, dwant = gembench.reference(gembench.activation("gem", N=n), x.detach().numpy())
        assert np.allclose(y.detach().numpy(), want, rtol=1e-12, atol=0)
        assert np.allclose(dx.numpy(), dwant, rtol=1e-12, atol=1e-300)
