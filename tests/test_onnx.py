"""The onnxruntime backend and the ONNX graphs it runs (built from the catalog's formulas)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto
from onnx.reference import ReferenceEvaluator

import gembench
import gembench.activations.ops
from gembench.activations.accuracy import max_error
from gembench.activations.accuracy_inputs import adversarial, as_dtype, random_normal
from gembench.activations.dtypes import DTYPES
from gembench.activations.ops import NumpyOps
from gembench.activations.reference import reference_param_grads
from gembench.backends import onnx_graphs as og
from gembench.backends import onnxruntime_backend as ob

GEM_FAMILY = [("gem", {}), ("gem", {"N": 2}), ("e_gem", {}), ("e_gem", {"N": 2, "eps": 1e-6}),
              ("se_gem", {}), ("se_gem", {"N": 2, "eps": 1e-4})]
EXPECTED_OPSET = 20 if tuple(int(v) for v in ort.__version__.split(".")[:2]) >= (1, 17) \
    else og.FALLBACK_OPSET


def _spec(name, **kw):
    return gembench.activation(name, **kw)


def _backend(threads=1):
    be = ob.OrtBackend()
    be.configure(threads=threads)
    return be


def _x(dtype="float32", n=200, seed=0):
    d = DTYPES[dtype]
    return as_dtype(np.concatenate([adversarial(d), random_normal(n, seed)]), d)


def _both(model):
    """Op counts as built and after ONNX Runtime's optimisation."""
    return og.op_counts(model), og.op_counts(og.ort_optimized_model(model))


# --------------------------------------------------------------------------- graphs


def test_opset_is_20_when_onnxruntime_supports_it():
    assert og.onnx_opset() == EXPECTED_OPSET
    model = og.forward_model(_spec("gem"), "float32")
    assert [(o.domain, o.version) for o in model.opset_import] == [("", EXPECTED_OPSET)]


def test_relu_forward_is_a_single_relu_node():
    model = og.forward_model(_spec("relu"), "float32")
    built, optimized = _both(model)
    assert built == {"Relu": 1}
    assert optimized == {"Relu": 1}
    (node,) = model.graph.node
    assert (list(node.input), list(node.output)) == (["x"], ["y"])
    assert not model.graph.initializer


@pytest.mark.skipif(EXPECTED_OPSET < 20, reason="opset < 20 has no Gelu: GELU is composed")
def test_gelu_forward_is_the_gelu_operator():
    built, optimized = _both(og.forward_model(_spec("gelu"), "float32"))
    assert built == optimized == {"Gelu": 1}
    tanh = og.forward_model(_spec("gelu_tanh"), "float32")
    (node,) = tanh.graph.node
    assert node.op_type == "Gelu"
    assert onnx.helper.get_attribute_value(node.attribute[0]) == b"tanh"
    # half types: the same operator between two casts
    assert og.op_counts(og.forward_model(_spec("gelu"), "bfloat16")) == {"Cast": 2, "Gelu": 1}


def test_gelu_float64_falls_back_to_the_catalog_formula():
    """ONNX's Gelu function writes its constants as float32: float64 composes instead."""
    counts = og.op_counts(og.forward_model(_spec("gelu"), "float64"))
    assert "Gelu" not in counts
    assert counts["Erf"] == 1
    assert og.native_op(_spec("gelu"), "float64") is None
    assert og.native_op(_spec("gelu"), "float32", opset=17) is None
    assert og.op_counts(og.forward_model(_spec("gelu"), "float32", opset=17))["Erf"] == 1


@pytest.mark.parametrize(("name", "kw"), GEM_FAMILY, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_gem_family_graphs_are_transcendental_free(name, kw, dtype):
    spec = _spec(name, **kw)
    for model in (og.forward_model(spec, dtype), og.backward_model(spec, dtype)):
        for counts in _both(model):
            assert og.transcendental_ops(counts) == [], counts
            assert og.unclassified_ops(counts) == [], counts
            divisions = counts.get("Div", 0) + counts.get("Reciprocal", 0)
            assert 1 <= divisions <= (2 if name == "se_gem" else 1), counts
            assert "Where" not in counts, counts


@pytest.mark.parametrize("name", gembench.activation_names())
def test_catalog_graphs_never_select(name):
    """ONNX Runtime's CPU Where is scalar code: no catalog formula records one."""
    spec = _spec(name)
    for model in (og.forward_model(spec, "float32"), og.backward_model(spec, "float64")):
        assert "Where" not in og.op_counts(model)


@pytest.mark.parametrize(("name", "expected"), [
    ("gelu", {"Gelu"}), ("silu", {"Exp"}), ("mish", {"Exp"}),
    ("lambda_gelu", {"Erf"}), ("gelu_tanh", {"Gelu"}),
])
def test_transcendental_check_flags_the_baselines(name, expected):
    model = og.forward_model(_spec(name), "float32")
    built, optimized = _both(model)
    assert expected <= set(og.transcendental_ops(built))
    assert og.transcendental_ops(optimized), optimized  # survives ORT's fusions
    back = og.op_counts(og.backward_model(_spec(name), "float32"))
    assert og.transcendental_ops(back)


def test_transcendental_ops_and_unclassified_ops():
    counts = {"Add": 3, "Exp": 1, "Pow": 1, "com.microsoft.QuickGelu": 1, "Sqrt": 0,
              "Where": 2, "MyOp": 1}
    assert og.transcendental_ops(counts) == ["Exp", "Pow", "com.microsoft.QuickGelu"]
    assert og.unclassified_ops(counts) == ["MyOp"]
    assert og.transcendental_ops({"Add": 1, "Where": 1}) == []


def test_half_types_cast_to_float32_and_back():
    for dtype, elem in [("float16", TensorProto.FLOAT16), ("bfloat16", TensorProto.BFLOAT16)]:
        model = og.backward_model(_spec("lambda_gelu_learnable"), dtype)
        g = model.graph
        assert [i.type.tensor_type.elem_type for i in g.input] == [elem, elem]
        assert g.output[0].type.tensor_type.elem_type == elem
        assert g.output[1].type.tensor_type.elem_type == TensorProto.FLOAT  # ds in float32
        casts = [n for n in g.node if n.op_type == "Cast"]
        assert sorted(onnx.helper.get_attribute_value(c.attribute[0]) for c in casts) == \
            sorted([TensorProto.FLOAT, TensorProto.FLOAT, elem])
        assert all(init.data_type == TensorProto.FLOAT for init in g.initializer)


@pytest.mark.parametrize(("name", "kw"), [*GEM_FAMILY, ("relu", {})], ids=lambda v: str(v))
def test_graphs_are_the_catalog_formulas(name, kw):
    """ONNX's reference evaluator (NumPy) on the float64 graphs gives the NumPy formulas."""
    spec = _spec(name, **kw)
    x = _x("float64")
    dy = np.linspace(-2.0, 2.0, x.size)
    f = ReferenceEvaluator(og.forward_model(spec, "float64"))
    b = ReferenceEvaluator(og.backward_model(spec, "float64"))
    ops = NumpyOps(np.float64)
    with np.errstate(all="ignore"):
        want_y, want_dx = spec.forward(ops, x), dy * spec.derivative(ops, x)
        (y,) = f.run(None, {"x": x})
        (dx,) = b.run(None, {"x": x, "dy": dy})
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(dx, want_dx)


@pytest.mark.parametrize(("dtype", "xs"), [
    ("float32", [-14.0, -15.0, -16.0, -16.43, -17.0, -25.0, -40.0, -88.0, 16.63]),
    ("float64", [-30.0, -36.8, -37.0, -45.0, -700.0, 36.8]),
])
def test_silu_sigmoid_tail_is_accurate(dtype, xs):
    """ORT's own Sigmoid is absolute-accurate only: x * sigmoid(x) broke the tolerance there."""
    be, d, spec = _backend(), DTYPES[dtype], _spec("silu")
    x = as_dtype(np.array(xs), d)
    kern = be.build(spec, dtype, "cpu")
    y = be.to_numpy(kern.forward(be.from_numpy(x, dtype, "cpu")))
    ref, _ = gembench.reference(spec, x)
    assert max_error(y, ref, d, spec) <= 2.0
    assert "Sigmoid" not in kern.describe()["nodes_optimized"]["forward"]


def test_symbolic_values_refuse_python_branching():
    b = og.GraphBuilder("float32")
    x = og.Sym(b, "x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError):
        x + "a"
    c = b.const(0.5)
    assert b.const(0.5) is c and b.const(-0.0) is not b.const(0.0)


# --------------------------------------------------------------------------- backend


def test_float64_cases_without_kernels_are_unsupported_with_a_reason():
    be = _backend()
    reason = be.unsupported(_spec("gelu"), "float64", "cpu")
    assert reason and "Erf" in reason and "float64" in reason
    for name in ("relu", "gem", "se_gem", "silu", "gelu_tanh", "mish"):
        assert be.unsupported(_spec(name), "float64", "cpu") is None
    for dtype in ("float32", "float16", "bfloat16"):
        assert be.unsupported(_spec("gelu"), dtype, "cpu") is None


def test_cuda_needs_the_cuda_provider():
    be = _backend()
    reason = be.unsupported(_spec("gem"), "float32", "cuda")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    assert reason and "CUDAExecutionProvider" in reason


def test_availability_reports_an_import_failure(monkeypatch):
    monkeypatch.setattr(ob, "ort", None)
    monkeypatch.setattr(ob, "_IMPORT_ERROR", "cannot import onnxruntime: boom")
    avail = ob.OrtBackend().availability()
    assert not avail and "boom" in avail.reason
    assert "boom" in ob.OrtBackend().unsupported(_spec("gem"), "float32", "cpu")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_forward_out_writes_into_the_given_buffer(dtype):
    be = _backend()
    kern = be.build(_spec("se_gem"), dtype, "cpu")
    assert kern.supports_out
    x = be.from_numpy(_x(dtype).reshape(-1, 2), dtype, "cpu")  # any shape
    out = be.empty_like(x)
    out[...] = np.nan
    got = kern.forward(x, out=out)
    assert got is out
    fresh = kern.forward(x)
    assert fresh is not out and fresh.shape == x.shape and fresh.dtype == x.dtype
    np.testing.assert_array_equal(be.to_numpy(out), be.to_numpy(fresh))
    assert not np.isnan(be.to_numpy(out)).any()
    ref, _ = gembench.reference(_spec("se_gem"), be.to_numpy(x))
    d = DTYPES[dtype]
    assert max_error(be.to_numpy(out), ref, d, _spec("se_gem")) <= d.forward_tol
    with pytest.raises(TypeError):
        kern.forward(x, out=np.empty(x.shape, np.float32 if dtype != "float32" else np.float64))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_learnable_gradient_matches_the_float64_reference(dtype):
    d = DTYPES[dtype]
    be = _backend()
    spec = _spec("lambda_gelu_learnable", s=1.0, t=0.1)
    rng = np.random.default_rng(3)
    x = _x(dtype, seed=3)
    dy = as_dtype(rng.uniform(0.5, 2.0, x.size), d)  # one sign: the sum cannot cancel to 0
    kern = be.build(spec, dtype, "cpu")
    xn, dyn = be.from_numpy(x, dtype, "cpu"), be.from_numpy(dy, dtype, "cpu")
    dx, grads = kern.grads(xn, dyn)
    assert set(grads) == {"s"} and dx.dtype == xn.dtype
    want = reference_param_grads(spec, x, dy)["s"]
    terms = np.abs(spec.param_grad_terms(NumpyOps(np.float64), x, dy)["s"]).sum()
    tol = d.backward_tol * d.eps * terms
    assert abs(want) > 2 * tol  # a gradient of 0 would fail
    assert abs(float(grads["s"]) - want) <= tol
    # the check can fail: the gradient at another s is far off
    _, other = be.build(_spec("lambda_gelu_learnable", s=0.0), dtype, "cpu").grads(xn, dyn)
    assert abs(float(other["s"]) - want) > tol
    # non-learnable activations return no parameter gradients
    assert be.build(_spec("gelu"), dtype, "cpu").grads(xn, dyn)[1] == {}


def test_sessions_use_threads_no_spinning_and_enable_all():
    be = _backend(threads=1)
    kern = be.build(_spec("gem"), "float32", "cpu")
    for sess in kern.sessions.values():
        so = sess.get_session_options()
        assert so.intra_op_num_threads == 1
        assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    be.configure(threads=2)
    kern2 = be.build(_spec("gem"), "float32", "cpu")
    assert kern2.sessions["forward"].get_session_options().intra_op_num_threads == 2


def test_describe_reports_provider_and_graphs():
    be = _backend(threads=1)
    info = be.build(_spec("gem", N=2), "float32", "cpu").describe()
    assert info["execution_provider"] == "CPUExecutionProvider"
    assert info["opset"] == EXPECTED_OPSET
    assert info["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert info["intra_op_threads"] == 1
    for graph in ("forward", "backward"):
        assert info["nodes_built"][graph]["Mul"] >= 2
        assert sum(info["nodes_optimized"][graph].values()) >= 5
        assert info["transcendental_ops"][graph] == []
    gelu = be.build(_spec("gelu"), "float32", "cpu").describe()
    assert gelu["nodes_built"]["forward"] == {"Gelu": 1}
    assert gelu["forward_op"] == "Gelu"
    assert gelu["transcendental_ops"]["forward"] == ["Gelu"]
    assert "Erf" in gelu["transcendental_ops"]["backward"]
    kern = be.build(_spec("relu"), "float32", "cpu")
    assert kern.saved_for_backward.startswith("x")
    assert kern.describe()["nodes_optimized"]["forward"] == {"Relu": 1}


def test_native_arrays_round_trip():
    be = _backend()
    x = np.array([1.5, -2.25, 0.0, -0.0, 1e4, 1e-3])
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        a = be.from_numpy(x, dtype, "cpu")
        assert a.dtype.itemsize == DTYPES[dtype].itemsize and a.flags.c_contiguous
        np.testing.assert_array_equal(be.to_numpy(a), as_dtype(x, DTYPES[dtype]))
        assert be.to_numpy(a).dtype == np.float64
