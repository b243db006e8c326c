"""ONNX graphs of the catalog's activations, built from the catalog's own formulas.

:class:`OnnxOps` is an array-namespace adapter (see :mod:`gembench.activations.ops`) whose
"arrays" are symbolic values: arithmetic, comparisons, ``&`` and the adapter's functions each
record an ONNX node, and Python numbers become initializers of the compute dtype. Evaluating
``spec.forward(ops, x)``, ``spec.derivative(ops, x)`` and ``spec.param_grad_terms(ops, x, dy)``
on symbolic inputs therefore records exactly the formulas every other backend runs.

Baselines use the operator a framework exporter emits: ``relu`` is one ``Relu`` node, ``gelu``
(and ``gelu_tanh``) one ``Gelu`` node where the opset has it (ai.onnx opset 20) and the compute
dtype is float32, the catalog's composition otherwise. Backward graphs are always the catalog's
analytic derivative.

Operator mapping: where/abs/exp/sqrt/tanh/softplus/clip/relu/recip are Where/Abs/Exp/Sqrt/Tanh/
Softplus/Clip/Relu/Reciprocal (clamp is Clip too), step(a) is Cast(Greater(a, 0)), log1p(a) is
Log(1 + a), erfc(a) is 1 - Erf(a). The catalog's formulas never select (ONNX Runtime's CPU
``Where`` is scalar code). sigmoid(a) is composed as 1 / (1 + Exp(-a)), because ONNX Runtime's
own Sigmoid is accurate only in absolute terms where the catalog's formulas need more (see
:meth:`OnnxOps.sigmoid`).

Half-precision inputs (float16, bfloat16) are cast to float32, computed there and cast back
once, as frameworks do; float32 and float64 compute natively.

The transcendental-free check counts operators (:mod:`gembench.backends.onnx_report`, whose
functions this module re-exports), as built and after ONNX Runtime's own graph optimisation,
and names the ones that are not rational arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gembench.activations.catalog import Activation
from gembench.backends.onnx_report import (  # noqa: F401 (re-exported: the graphs' facts)
    ALGEBRAIC_OPS,
    RATIONAL_OPS,
    TRANSCENDENTAL_OPS,
    graph_report,
    op_counts,
    ort_optimized_model,
    ort_session_options,
    transcendental_ops,
    unclassified_ops,
)

#: the opset gembench asks for: the first with a ``Gelu`` operator.
PREFERRED_OPSET = 20
#: used when the installed ONNX Runtime cannot load opset 20 (GELU is then composed).
FALLBACK_OPSET = 17
#: IR version written into the models (IR 10 covers opsets up to 21; ORT >= 1.17 reads it).
IR_VERSION = 10

ELEM_TYPE: dict[str, int] = {
    "float64": TensorProto.DOUBLE,
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "bfloat16": TensorProto.BFLOAT16,
}
#: the dtype each input dtype computes in (half types: float32, rounded once at the end).
COMPUTE_DTYPE: dict[str, str] = {
    "float64": "float64",
    "float32": "float32",
    "float16": "float32",
    "bfloat16": "float32",
}
_NP_COMPUTE = {"float64": np.float64, "float32": np.float32}

# --------------------------------------------------------------------------- symbolic values


class Sym:
    """A symbolic tensor: a value name in the graph being recorded."""

    __slots__ = ("b", "name")

    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.b = builder
        self.name = name

    def __repr__(self) -> str:
        return f"Sym({self.name!r})"

    def __bool__(self) -> bool:
        raise TypeError("a symbolic ONNX value has no truth value (use ops.where)")

    def _bin(self, op: str, other: Any, reflected: bool = False) -> Sym:
        o = self.b.lift(other)
        return self.b.op(op, o, self) if reflected else self.b.op(op, self, o)

    def __add__(self, o: Any) -> Sym:
        return self._bin("Add", o)

    def __radd__(self, o: Any) -> Sym:
        return self._bin("Add", o, True)

    def __sub__(self, o: Any) -> Sym:
        return self._bin("Sub", o)

    def __rsub__(self, o: Any) -> Sym:
        return self._bin("Sub", o, True)

    def __mul__(self, o: Any) -> Sym:
        return self._bin("Mul", o)

    def __rmul__(self, o: Any) -> Sym:
        return self._bin("Mul", o, True)

    def __truediv__(self, o: Any) -> Sym:
        return self._bin("Div", o)

    def __rtruediv__(self, o: Any) -> Sym:
        return self._bin("Div", o, True)

    def __neg__(self) -> Sym:
        return self.b.op("Neg", self)

    def __gt__(self, o: Any) -> Sym:
        return self._bin("Greater", o)

    def __ge__(self, o: Any) -> Sym:
        return self._bin("GreaterOrEqual", o)

    def __lt__(self, o: Any) -> Sym:
        return self._bin("Less", o)

    def __le__(self, o: Any) -> Sym:
        return self._bin("LessOrEqual", o)

    def __and__(self, o: Any) -> Sym:
        return self._bin("And", o)

    def __rand__(self, o: Any) -> Sym:
        return self._bin("And", o, True)

    def __or__(self, o: Any) -> Sym:
        return self._bin("Or", o)

    def __invert__(self) -> Sym:
        return self.b.op("Not", self)


class GraphBuilder:
    """Records nodes and constant initializers for one graph in one compute dtype."""

    def __init__(self, compute: str) -> None:
        self.compute = compute
        self.elem = ELEM_TYPE[compute]
        self.np_dtype = _NP_COMPUTE[compute]
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._consts: dict[tuple[str, str], Sym] = {}
        self._count = 0

    def _fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: float | bool) -> Sym:
        """A scalar initializer (shared between uses) of the compute dtype, or bool."""
        if isinstance(value, (bool, np.bool_)):
            key, arr = ("bool", str(bool(value))), np.array(bool(value))
        else:
            key, arr = ("num", float(value).hex()), np.array(value, dtype=self.np_dtype)
        if key not in self._consts:
            name = self._fresh("c")
            self.initializers.append(numpy_helper.from_array(arr, name))
            self._consts[key] = Sym(self, name)
        return self._consts[key]

    def lift(self, v: Any) -> Sym:
        if isinstance(v, Sym):
            if v.b is not self:
                raise ValueError("symbolic values from two different graphs")
            return v
        if isinstance(v, (int, float, bool, np.number, np.bool_)):
            return self.const(v)
        raise TypeError(f"cannot use {type(v).__name__} in an ONNX graph")

    def op(self, op_type: str, *inputs: Sym | str, out: str | None = None,
           **attrs: Any) -> Sym:
        names = [i.name if isinstance(i, Sym) else i for i in inputs]
        name = out or self._fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, names, [name], name=f"n{len(self.nodes)}_{op_type}",
                             **attrs)
        )
        return Sym(self, name)


class OnnxOps:
    """The array-namespace adapter whose arrays are symbolic ONNX values (:class:`Sym`)."""

    name = "onnx"

    def __init__(self, builder: GraphBuilder) -> None:
        self.b = builder
        self.dtype = builder.compute
        self.eps = float(np.finfo(builder.np_dtype).eps)

    def where(self, c: Any, a: Any, b: Any) -> Sym:
        return self.b.op("Where", self.b.lift(c), self.b.lift(a), self.b.lift(b))

    def abs(self, a: Any) -> Sym:
        return self.b.op("Abs", self.b.lift(a))

    def exp(self, a: Any) -> Sym:
        return self.b.op("Exp", self.b.lift(a))

    def log1p(self, a: Any) -> Sym:
        return self.b.op("Log", 1.0 + self.b.lift(a))

    def sqrt(self, a: Any) -> Sym:
        return self.b.op("Sqrt", self.b.lift(a))

    def tanh(self, a: Any) -> Sym:
        return self.b.op("Tanh", self.b.lift(a))

    def erfc(self, a: Any) -> Sym:
        # ONNX has no Erfc: 1 - erf(a) is exact in absolute terms, not relative in the far
        # upper tail (where erfc(a) < eps); the catalog's uses of it are absolute-accuracy.
        return 1.0 - self.b.op("Erf", self.b.lift(a))

    def sigmoid(self, a: Any) -> Sym:
        # Not ONNX's Sigmoid: ONNX Runtime's CPU Sigmoid (MLAS logistic in float32) is accurate
        # only in absolute terms (about 6e-8 in float32, 1e-16 in float64; 0 below about -17),
        # which silu = x * sigmoid(x) amplifies by |x| past the tolerance (float32: 18.7 eps at
        # x = -16.43 once ORT fuses x * Sigmoid(x) into QuickGelu; float64: 17 eps at x = -37).
        # 1/(1 + exp(-a)) is a few ulp relative everywhere; exp overflowing gives exactly 0.
        return 1.0 / (1.0 + self.exp(-self.b.lift(a)))

    def softplus(self, a: Any) -> Sym:
        return self.b.op("Softplus", self.b.lift(a))

    def clip(self, a: Any, lo: float, hi: float) -> Sym:
        return self.b.op("Clip", self.b.lift(a), self.b.lift(lo), self.b.lift(hi))

    def relu(self, a: Any) -> Sym:
        return self.b.op("Relu", self.b.lift(a))

    clamp = clip  # no autograd here: the two differ only in their gradient at the bounds

    def step(self, a: Any) -> Sym:
        return self.b.op("Cast", self.b.lift(a) > 0.0, to=self.b.elem)

    def recip(self, a: Any) -> Sym:
        return self.b.op("Reciprocal", self.b.lift(a))


# --------------------------------------------------------------------------- models


def onnx_opset() -> int:
    """The opset gembench builds with: 20 (native ``Gelu``) if the installed ONNX Runtime can
    load it, else :data:`FALLBACK_OPSET` (GELU composed from the catalog formula)."""
    global _OPSET
    if _OPSET is None:
        _OPSET = _probe_opset()
    return _OPSET


_OPSET: int | None = None


def _probe_opset() -> int:
    if onnx.defs.onnx_opset_version() < PREFERRED_OPSET:
        return FALLBACK_OPSET
    try:
        import onnxruntime as ort
    except ImportError:
        return PREFERRED_OPSET
    b = GraphBuilder("float32")
    b.op("Gelu", "x", out="y")
    model = _model(b, [_vi("x", TensorProto.FLOAT)], [_vi("y", TensorProto.FLOAT)],
                   PREFERRED_OPSET, "gelu opset probe")
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception:
        return FALLBACK_OPSET
    return PREFERRED_OPSET


def native_op(spec: Activation, dtype: str = "float32", opset: int | None = None) -> str | None:
    """The single ONNX operator a framework exporter would emit for this forward, if any.

    ``Gelu`` (opset 20) is used where the compute dtype is float32 (float32 and the half
    types): the ONNX function that defines it writes its constants (sqrt(2/pi), 0.044715,
    sqrt(1/2)) as float32, so a float64 ``Gelu`` is only float32-accurate (and ONNX Runtime's
    CPU provider has no float64 kernel for its ``Erf``); float64 uses the catalog formula.
    """
    opset = onnx_opset() if opset is None else opset
    if spec.name == "relu":
        return "Relu"
    gelu = opset >= 20 and COMPUTE_DTYPE[dtype] == "float32"
    if spec.name == "gelu" and gelu:
        return "Gelu"
    if spec.name == "gelu_tanh" and gelu:
        return "Gelu(approximate=tanh)"
    return None


def _vi(name: str, elem: int, shape: list[Any] | None = None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, ["n"] if shape is None else shape)


def _model(b: GraphBuilder, inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], opset: int, name: str,
           meta: Mapping[str, str] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(b.nodes, name, inputs, outputs, initializer=b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="gembench", doc_string=name)
    model.ir_version = IR_VERSION
    for k, v in (meta or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model, full_check=True)
    return model


def _emit(b: GraphBuilder, value: Any, out: str, dtype: str) -> None:
    """Make ``value`` (compute dtype) the graph output ``out`` in ``dtype``."""
    v = b.lift(value)
    if dtype != b.compute:
        b.op("Cast", v, out=out, to=ELEM_TYPE[dtype])
    else:
        b.op("Identity", v, out=out)
        # Fold the Identity away when the value is a plain node output (not an input/const).
        last = b.nodes[-1]
        producer = next((n for n in reversed(b.nodes[:-1]) if v.name in n.output), None)
        if producer is not None and not _used_elsewhere(b, v.name, last):
            b.nodes.pop()
            producer.output[list(producer.output).index(v.name)] = out


def _used_elsewhere(b: GraphBuilder, name: str, skip: onnx.NodeProto) -> bool:
    return any(name in n.input for n in b.nodes if n is not skip)


def _inputs(b: GraphBuilder, names: Iterable[str], dtype: str) -> list[Sym]:
    if dtype == b.compute:
        return [Sym(b, n) for n in names]
    return [b.op("Cast", n, to=b.elem) for n in names]


def _check_dtype(dtype: str) -> None:
    if dtype not in ELEM_TYPE:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(ELEM_TYPE)}")


def forward_model(spec: Activation, dtype: str, opset: int | None = None) -> onnx.ModelProto:
    """x -> y = f(x) as an ONNX model (checked), for input/output ``dtype``."""
    _check_dtype(dtype)
    opset = onnx_opset() if opset is None else opset
    b = GraphBuilder(COMPUTE_DTYPE[dtype])
    (x,) = _inputs(b, ["x"], dtype)
    native = native_op(spec, dtype, opset)
    if native == "Relu":
        y = b.op("Relu", x)
    elif native == "Gelu":
        y = b.op("Gelu", x)
    elif native == "Gelu(approximate=tanh)":
        y = b.op("Gelu", x, approximate="tanh")
    else:
        y = spec.forward(OnnxOps(b), x)
    _emit(b, y, "y", dtype)
    elem = ELEM_TYPE[dtype]
    meta = {"activation": spec.label, "dtype": dtype, "graph": "forward",
            "compute_dtype": b.compute, "native_op": native or "catalog formula"}
    return _model(b, [_vi("x", elem)], [_vi("y", elem)], opset,
                  f"{spec.label} forward ({dtype})", meta)


def backward_model(spec: Activation, dtype: str, opset: int | None = None) -> onnx.ModelProto:
    """(x, dy) -> dx = dy * f'(x), and for learnable activations ``ds`` = the full reduction
    of the parameter-gradient terms (a scalar of the compute dtype)."""
    _check_dtype(dtype)
    opset = onnx_opset() if opset is None else opset
    b = GraphBuilder(COMPUTE_DTYPE[dtype])
    ops = OnnxOps(b)
    x, dy = _inputs(b, ["x", "dy"], dtype)
    _emit(b, dy * spec.derivative(ops, x), "dx", dtype)
    elem = ELEM_TYPE[dtype]
    outputs = [_vi("dx", elem)]
    for pname, term in spec.param_grad_terms(ops, x, dy).items():
        b.op("ReduceSum", b.lift(term), out=f"d{pname}", keepdims=0)
        outputs.append(_vi(f"d{pname}", b.elem, []))
    meta = {"activation": spec.label, "dtype": dtype, "graph": "backward",
            "compute_dtype": b.compute}
    return _model(b, [_vi("x", elem), _vi("dy", elem)], outputs, opset,
                  f"{spec.label} backward ({dtype})", meta)
