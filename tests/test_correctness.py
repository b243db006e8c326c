"""Every backend x activation x dtype, forward and backward, against the float64 reference."""

from __future__ import annotations

import os
import secrets
import zlib

import numpy as np
import pytest
from conftest import SPEC_ARGS, spec_id

import gembench
import gembench.activations.ops
from gembench.activations.accuracy import error_in_eps, max_error, tolerances
from gembench.activations.accuracy_inputs import check_inputs
from gembench.activations.dtypes import DTYPES
from gembench.activations.ops import NumpyOps
from gembench.activations.reference import reference_param_grads

FULL = os.environ.get("GEMBENCH_FULL_TESTS") == "1"
# Fresh random inputs every run; a failure names the seed, GEMBENCH_TEST_SEED=... repeats it.
SEED = int(os.environ.get("GEMBENCH_TEST_SEED", secrets.randbits(32)))
# torch.compile costs seconds per compile: the default run checks it on a focused set
# (every activation in float32, a few in half precision); GEMBENCH_FULL_TESTS=1 runs it all.
COMPILE_FOCUS = {"relu", "gelu", "gem", "se_gem", "lambda_gelu_learnable"}


def _cases():
    for b in gembench.backend_names():
        for arg in SPEC_ARGS:
            for dt in DTYPES:
                marks = []
                if b.startswith("torch_compile"):
                    focus = dt == "float32" or (arg[0] in COMPILE_FOCUS and not arg[1])
                    if not FULL and not focus:
                        continue
                    marks = [pytest.mark.slow]
                yield pytest.param(b, arg, dt, id=f"{b}-{spec_id(arg)}-{dt}", marks=marks)


def _run(backend_name: str, arg: tuple, dt: str, seed: int):
    be = gembench.backend(backend_name)
    spec = gembench.activation(arg[0], **arg[1])
    reason = be.unsupported(spec, dt, "cpu")
    if reason:
        pytest.skip(reason)
    d = DTYPES[dt]
    x, dy = check_inputs(d, seed, 200)
    kern = be.build(spec, dtype=dt, device="cpu")
    if kern.domain is not None:  # a kernel outside gembench's control, declared narrower
        keep = np.abs(x) <= kern.domain
        assert kern.domain_note and keep.sum() > 0.9 * x.size
        x, dy = x[keep], dy[keep]
    xn, dyn = be.from_numpy(x, dt, "cpu"), be.from_numpy(dy, dt, "cpu")
    y = be.to_numpy(kern.forward(xn))
    dx, pgrads = kern.grads(xn, dyn)
    return spec, d, x, dy, y, be.to_numpy(dx), pgrads, tolerances(kern, d)


def _explain(err: np.ndarray, x: np.ndarray, got: np.ndarray, ref: np.ndarray) -> str:
    i = int(np.argmax(err))
    return f"worst at x={x[i]!r}: got {got[i]!r}, reference {ref[i]!r} ({err[i]:.3g} eps)"


@pytest.mark.parametrize(("backend_name", "arg", "dt"), list(_cases()))
def test_forward_and_backward_match_reference(backend_name, arg, dt):
    seed = SEED ^ zlib.crc32(f"{backend_name}/{dt}/{arg}".encode())
    spec, d, x, dy, y, dx, pgrads, (ftol, btol, note) = _run(backend_name, arg, dt, seed)
    # gembench's own formulas meet the dtype's bound; only torch.nn.functional declares more
    assert (ftol, btol) == (d.forward_tol, d.backward_tol) or (
        note and backend_name.startswith("torch") and spec.name in ("gelu_tanh", "silu", "mish"))
    ref_y, ref_d = gembench.reference(spec, x)
    rel = spec.definition.relative_accuracy
    err_f = error_in_eps(y, ref_y, d, rel)
    where = f" [GEMBENCH_TEST_SEED={SEED}]"
    assert err_f.max() <= ftol, "forward " + _explain(err_f, x, y, ref_y) + where
    ref_dx = dy * ref_d
    err_b = error_in_eps(dx, ref_dx, d, rel)
    assert err_b.max() <= btol, "backward " + _explain(err_b, x, dx, ref_dx) + where
    assert set(pgrads) == ({"s"} if spec.learnable else set())
    if spec.learnable:
        ref_ds = reference_param_grads(spec, x, dy)["s"]
        terms = np.abs(spec.param_grad_terms(NumpyOps(np.float64), x, dy)["s"])
        got = float(np.asarray(be_to_float(pgrads["s"])))
        assert abs(got - ref_ds) <= btol * d.eps * terms.sum(), (got, ref_ds)


def be_to_float(v):
    return v.detach().cpu().double().numpy() if hasattr(v, "detach") else v


def test_error_check_fails_on_wrong_values():
    """The accuracy check itself can fail: a NaN, a 1% error and a wrong sign are caught."""
    d = DTYPES["float32"]
    spec = gembench.activation("gem")
    x = np.array([0.5, 1.0, 3.0])
    ref, _ = gembench.reference(spec, x)
    assert max_error(ref.astype(np.float32), ref, d, spec) <= 0.5
    assert max_error(ref * 1.01, ref, d, spec) > d.forward_tol
    assert max_error(np.array([ref[0], np.nan, ref[2]]), ref, d, spec) == np.inf
    assert max_error(np.array([ref[0], np.inf, ref[2]]), ref, d, spec) == np.inf
    assert max_error(-ref, ref, d, spec) > d.forward_tol


def test_relative_accuracy_catches_tiny_errors_at_eps_scale():
    """At the eps scale, an absolute-only check would pass garbage; the GEM check does not."""
    d = DTYPES["float32"]
    spec = gembench.activation("e_gem", eps=1e-6)
    x = np.array([1e-6, 2e-6])
    ref, _ = gembench.reference(spec, x)
    assert max_error(ref * 1.001, ref, d, spec) > d.forward_tol


@pytest.mark.parametrize("backend_name", ["numpy", "torch_eager", "torch_fused", "onnxruntime",
                                          "triton"])
def test_describe_names_the_formulation(backend_name):
    """Reports show which formulation a figure measured: one division for gem, two for se_gem,
    torch.nn.functional's own kernel for the eager baselines."""
    be = gembench.backend(backend_name)
    for name, expected in [("gem", "1 division"), ("se_gem", "2 divisions"), ("relu", "")]:
        spec = gembench.activation(name)
        if be.unsupported(spec, "float32", "cpu"):
            pytest.skip(be.unsupported(spec, "float32", "cpu"))
        facts = be.build(spec, "float32", "cpu").describe()
        assert expected in facts["formulation"] and "select" not in facts["formulation"].replace(
            "no select", ""), facts["formulation"]
    if backend_name == "torch_eager":
        facts = be.build(gembench.activation("gelu"), "float32", "cpu").describe()
        assert facts["formulation"].startswith("torch.nn.functional.gelu")
