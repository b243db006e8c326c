"""Activations registered from outside gembench (gembench/activations/registry.py): checked at
registration, found like implementations, run on every CPU backend like a built-in."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gembench
from gembench.activations.accuracy import max_error, tolerances
from gembench.activations.catalog import CATALOG
from gembench.activations.dtypes import DTYPES
from gembench.activations.likeness import likeness_table, paper_specs
from gembench.activations.reference import reference, reference_param_grads
from gembench.activations.registry import ActivationRegistrationError, origins, origins_text
from gembench.backends import plugins

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_activation"
CPU_BACKENDS = ["numpy", "torch_eager", "torch_fused", "torch_compile", "torch_compile_fused",
                "onnxruntime", "triton"]


@pytest.fixture(autouse=True)
def _restore_catalog(monkeypatch):
    """Each test's registrations leave the catalog (and GEMBENCH_PLUGINS) as they were."""
    before = dict(dict.items(CATALOG))
    monkeypatch.setenv("GEMBENCH_PLUGINS", os.environ.get("GEMBENCH_PLUGINS", ""))
    yield
    dict.clear(CATALOG)
    dict.update(CATALOG, before)


def _load_example(tmp_path: Path) -> Path:
    path = tmp_path / "isrlu.py"  # a fresh path: plugins load each source once per process
    shutil.copy(EXAMPLE / "isrlu.py", path)
    assert plugins.load(str(path), origin="suite") is None
    return path


def _isrlu(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    r = 1 / np.sqrt(1 + alpha * np.minimum(x, 0) ** 2)
    return np.where(x >= 0, x, x * r), np.where(x >= 0, 1.0, r**3)


def test_the_example_is_one_short_file():
    assert len((EXAMPLE / "isrlu.py").read_text().splitlines()) <= 30


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_registered_activation_runs_on_every_cpu_backend(tmp_path, backend):
    _load_example(tmp_path)
    spec = gembench.activation("isrlu", alpha=2.0)
    be = gembench.backend(backend)
    assert be.unsupported(spec, "float32", "cpu") is None
    be.reset()
    kern = be.build(spec, dtype="float32", device="cpu")
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(4000) * 3, [0.0, -0.0, 1e3, -1e3, 1e-30]])
    x = x.astype(np.float32).astype(np.float64)
    dy = rng.standard_normal(x.size)
    ref_y, ref_d = reference(spec, x)
    np.testing.assert_allclose(ref_y, _isrlu(x, 2.0)[0], rtol=1e-12)  # the formula is isrlu
    np.testing.assert_allclose(ref_d, _isrlu(x, 2.0)[1], rtol=1e-12)
    xn, dyn = be.from_numpy(x, "float32", "cpu"), be.from_numpy(dy, "float32", "cpu")
    d = DTYPES["float32"]
    ftol, btol, _ = tolerances(kern, d)
    assert max_error(be.to_numpy(kern.forward(xn)), ref_y, d, spec) <= ftol
    assert max_error(be.to_numpy(kern.backward(xn, dyn)), dy * ref_d, d, spec) <= btol


def test_a_wrong_derivative_is_refused_in_one_line():
    with pytest.raises(ActivationRegistrationError) as err:
        gembench.register_activation(name="half_square", forward=lambda ops, x, p: 0.5 * x * x,
                                     derivative=lambda ops, x, p: 2.0 * x)
    assert "derivative disagrees with the forward at x = " in str(err.value)
    assert "\n" not in str(err.value)
    assert "half_square" not in CATALOG


def test_a_right_derivative_with_a_kink_is_accepted():
    gembench.register_activation(name="abs_relu", forward=lambda ops, x, p: ops.abs(x),
                                 derivative=lambda ops, x, p: 2.0 * ops.step(x) - 1.0)
    assert gembench.activation("abs_relu").transcendental_free


def test_a_wrong_parameter_gradient_is_refused():
    def grads(ops, x, dy, p):
        return {"k": dy * x * x}  # d(k x)/dk is x

    with pytest.raises(ActivationRegistrationError, match=r"param_grads\['k'\] disagrees"):
        gembench.register_activation(name="scaled", forward=lambda ops, x, p: p.k * x,
                                     derivative=lambda ops, x, p: p.k + 0.0 * x,
                                     params={"k": (2.0, 0.5, 4.0)}, param_grads=grads)


def test_parameter_gradients_reach_the_reference_and_numpy():
    gembench.register_activation(name="scaled", forward=lambda ops, x, p: p.k * x,
                                 derivative=lambda ops, x, p: p.k + 0.0 * x,
                                 params={"k": (2.0, 0.5, 4.0)},
                                 param_grads=lambda ops, x, dy, p: {"k": dy * x})
    spec = gembench.activation("scaled", k=3.0)
    x, dy = np.array([1.0, -2.0, 4.0]), np.array([1.0, 1.0, 0.5])
    assert reference_param_grads(spec, x, dy) == {"k": 1.0}
    kern = gembench.backend("numpy").build(spec, dtype="float64", device="cpu")
    assert kern.grads(x, dy)[1] == {"k": 1.0}
    assert "numpy" in gembench.backend("torch_fused").unsupported(spec, "float32", "cpu")


@pytest.mark.parametrize(("fn", "free"), [(lambda ops, x, p: ops.sqrt(1.0 + x * x), True),
                                          (lambda ops, x, p: ops.exp(x), False)])
def test_transcendental_free_is_traced_from_the_formulas(fn, free):
    deriv = (lambda ops, x, p: x / ops.sqrt(1.0 + x * x)) if free else fn
    gembench.register_activation(name="traced", forward=fn, derivative=deriv)
    assert gembench.activation("traced").transcendental_free is free


@pytest.mark.parametrize(("kw", "message"), [
    ({"name": "gem"}, "'gem' is a built-in activation"),
    ({"name": "two words"}, "name must be a word"),
    ({"name": "x", "params": {"a": (1.0, 2.0, 3.0)}}, "parameter a must be a number in"),
    ({"name": "y", "forward": lambda ops, x, p: ops.cosh(x)}, "cannot evaluate the formulas"),
])
def test_registration_mistakes_are_one_clear_error(kw, message):
    args = {"forward": lambda ops, x, p: x, "derivative": lambda ops, x, p: 1.0 + 0.0 * x, **kw}
    with pytest.raises(ValueError, match=message):
        gembench.register_activation(**args)


def test_origin_is_listed_and_workers_find_a_suite_activation(tmp_path):
    path = _load_example(tmp_path)
    assert CATALOG["isrlu"].origin == f"suite: {path}"
    text = origins_text()
    assert "isrlu" in text and f"suite: {path}" in text and "yes" in text
    assert str(path) in os.environ["GEMBENCH_PLUGINS"].split(",")  # inherited by workers
    assert [r["name"] for r in origins()] == ["isrlu"]  # built-ins are not listed there


def test_a_fresh_process_discovers_it_through_gembench_plugins():
    code = "import gembench; print(gembench.activation('isrlu', alpha=3).label)"
    env = {**os.environ, "GEMBENCH_PLUGINS": str(EXAMPLE / "isrlu.py"),
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "isrlu(alpha=3)", out.stderr


def test_a_suite_names_it_and_the_likeness_table_covers_it():
    from gembench.plan.suite import load_suite

    suite = load_suite(EXAMPLE / "suite.yaml")
    assert {c.activation for c in suite.cases} >= {"isrlu", "gem", "gelu", "relu"}
    assert {c.backend for c in suite.cases} == set(CPU_BACKENDS)
    row = likeness_table(paper_specs(["isrlu"]))[0]
    assert row["activation"] == "isrlu(alpha=1)"
    assert math.isclose(row["f(0)"], 0.0, abs_tol=1e-15) and row["f'(0)"] == 1.0


def test_triton_says_why_a_formula_does_not_map():
    def branchy(ops, x, p):
        return x if x > 0 else 0.0 * x  # a Python branch on a value: fine in mpmath only

    gembench.register_activation(name="branchy", forward=branchy,
                                 derivative=lambda ops, x, p: ops.step(x))
    spec = gembench.activation("branchy")
    reason = gembench.backend("triton").unsupported(spec, "float32", "cpu")
    assert reason and "does not map to Triton" in reason and "branches" in reason


def test_hand_written_triton_list_matches_the_kernels():
    from gembench.backends import triton_backend, triton_kernels

    assert triton_backend._HAND_WRITTEN == triton_kernels.ACTIVATIONS
