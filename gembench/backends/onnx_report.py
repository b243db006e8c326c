"""What an ONNX graph is made of: operator counts, as built and after ONNX Runtime's own graph
optimisation, and which operators are transcendental (the GEM family's graphs must have none).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import onnx

#: Operators that are transcendental (exp/log/erf/trig families, general powers, and the fused
#: activation operators built on them, including ONNX Runtime's contrib fusions).
TRANSCENDENTAL_OPS: frozenset[str] = frozenset({
    "Exp", "Log", "Erf", "Tanh", "Pow", "Sigmoid", "Softplus", "Gelu",
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Elu", "Selu", "Celu", "Mish", "Swish", "Softmax", "LogSoftmax", "Hardmax",
    "FastGelu", "BiasGelu", "QuickGelu", "BiasFastGelu", "GeluGrad", "FastGeluGrad",
    "BiasGeluGrad_dX", "BiasFastGeluGrad_dX", "QuickGeluGrad", "SigmoidGrad", "TanhGrad",
    "SoftplusGrad",
})
#: Algebraic but not rational: a square root (squareplus). Transcendental-free, not rational.
ALGEBRAIC_OPS: frozenset[str] = frozenset({"Sqrt"})
#: Operators that are rational arithmetic, comparisons, selection or bookkeeping.
RATIONAL_OPS: frozenset[str] = frozenset({
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Reciprocal", "Sign",
    "Where", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "And", "Or", "Not",
    "Xor", "Max", "Min", "Clip", "Relu", "LeakyRelu", "Cast", "Identity", "Constant",
    "ReduceSum", "Reshape", "Shape", "Expand", "Squeeze", "Unsqueeze",
})



def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Number of nodes per operator in the model's graph (subgraphs included); operators from
    another domain than ai.onnx are keyed ``domain.Op`` (e.g. ``com.microsoft.QuickGelu``)."""
    counts: Counter[str] = Counter()

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            key = node.op_type if node.domain in ("", "ai.onnx") else \
                f"{node.domain}.{node.op_type}"
            counts[key] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for g in attr.graphs:
                    visit(g)

    visit(model.graph)
    return dict(sorted(counts.items()))


def _bare(op: str) -> str:
    return op.rsplit(".", 1)[-1]


def transcendental_ops(counts: Mapping[str, int]) -> list[str]:
    """The transcendental operators in ``counts`` (sorted)."""
    return sorted(op for op, n in counts.items() if n and _bare(op) in TRANSCENDENTAL_OPS)


def unclassified_ops(counts: Mapping[str, int]) -> list[str]:
    """Operators known to be neither rational nor transcendental: a transcendental-free claim
    is only proven when this is empty too."""
    return sorted(op for op, n in counts.items()
                  if n and _bare(op) not in TRANSCENDENTAL_OPS | RATIONAL_OPS | ALGEBRAIC_OPS)


def ort_session_options(threads: int | None = None) -> Any:
    """The session options gembench runs with: ORT_ENABLE_ALL, spinning off (ONNX Runtime
    shares the process with torch), ``threads`` intra-op threads (None: ORT's default)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = int(threads or 0)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only (saving an ENABLE_ALL model warns otherwise)
    return so


def ort_optimized_model(model: onnx.ModelProto,
                        session_options: Callable[[], Any] | None = None,
                        providers: Iterable[str] = ("CPUExecutionProvider",)) -> onnx.ModelProto:
    """The model as ONNX Runtime's graph optimisation leaves it (saved through
    ``SessionOptions.optimized_model_filepath`` into a temporary directory and loaded back)."""
    import onnxruntime as ort

    so = (session_options or ort_session_options)()
    with tempfile.TemporaryDirectory(prefix="gembench-ort-") as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        so.optimized_model_filepath = path
        ort.InferenceSession(model.SerializeToString(), so, providers=list(providers))
        return onnx.load(path)


def graph_report(model: onnx.ModelProto,
                 session_options: Callable[[], Any] | None = None,
                 providers: Iterable[str] = ("CPUExecutionProvider",)) -> dict[str, Any]:
    """Op counts as built and after ONNX Runtime's optimisation, and the non-rational ops in
    either (``transcendental_ops``) or unclassified (``unclassified_ops``)."""
    built = op_counts(model)
    optimized = op_counts(ort_optimized_model(model, session_options, providers))
    return {
        "nodes_built": built,
        "nodes_optimized": optimized,
        "transcendental_ops": sorted(set(transcendental_ops(built))
                                     | set(transcendental_ops(optimized))),
        "unclassified_ops": sorted(set(unclassified_ops(built))
                                   | set(unclassified_ops(optimized))),
    }
