"""Triton kernels generated from an activation's formulas, for activations without a
hand-written kernel (relu2, squareplus, activations registered from outside gembench).

:class:`TritonTracer` is an array-namespace adapter (:mod:`gembench.activations.ops`) whose
arrays are names in straight-line Triton code: evaluating ``spec.forward(tracer, x)`` records
the formula as ``tl`` calls, with the bound parameters as constants. The code goes into a
forward kernel (reads x, writes y) and a one-pass backward kernel (reads x and dy, writes
dy * f'(x)), both computing in float32 like the hand-written ones, written to a module file
(``triton.jit`` reads source files) and imported. A formula calling something the tracer does
not map raises :class:`NotMappable`, and the case is unsupported with that reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gembench.activations.catalog import Activation


class NotMappable(Exception):
    """The formula uses something with no Triton counterpart here."""


def _lit(v: Any) -> str:
    v = float(v)
    if not math.isfinite(v):
        raise NotMappable(f"a non-finite constant {v} in the formula")
    return repr(v)


class TVal:
    """A value in the generated code (a variable name)."""

    __slots__ = ("name", "t")

    def __init__(self, t: TritonTracer, name: str) -> None:
        self.t, self.name = t, name

    def __bool__(self) -> bool:
        raise NotMappable("the formula branches on a value in Python (use ops.where)")

    def _bin(self, fmt: str, other: Any, reflected: bool = False) -> TVal:
        o = other.name if isinstance(other, TVal) else _lit(other)
        a, b = (o, self.name) if reflected else (self.name, o)
        return self.t.emit(fmt.format(a=a, b=b))

    def __add__(self, o: Any) -> TVal:
        return self._bin("{a} + {b}", o)

    def __radd__(self, o: Any) -> TVal:
        return self._bin("{a} + {b}", o, True)

    def __sub__(self, o: Any) -> TVal:
        return self._bin("{a} - {b}", o)

    def __rsub__(self, o: Any) -> TVal:
        return self._bin("{a} - {b}", o, True)

    def __mul__(self, o: Any) -> TVal:
        return self._bin("{a} * {b}", o)

    def __rmul__(self, o: Any) -> TVal:
        return self._bin("{a} * {b}", o, True)

    def __truediv__(self, o: Any) -> TVal:
        return self._bin("tl.math.div_rn({a}, {b})", o)

    def __rtruediv__(self, o: Any) -> TVal:
        return self._bin("tl.math.div_rn({a}, {b})", o, True)

    def __neg__(self) -> TVal:
        return self.t.emit(f"-{self.name}")

    def __gt__(self, o: Any) -> TVal:
        return self._bin("{a} > {b}", o)

    def __ge__(self, o: Any) -> TVal:
        return self._bin("{a} >= {b}", o)

    def __lt__(self, o: Any) -> TVal:
        return self._bin("{a} < {b}", o)

    def __le__(self, o: Any) -> TVal:
        return self._bin("{a} <= {b}", o)

    def __and__(self, o: Any) -> TVal:
        return self._bin("{a} & {b}", o)

    def __or__(self, o: Any) -> TVal:
        return self._bin("{a} | {b}", o)

    def __invert__(self) -> TVal:
        return self.t.emit(f"~{self.name}")


class TritonTracer:
    """The namespace adapter recording Triton code (float32 compute)."""

    name = "triton"
    eps = 2.0**-23

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, expr: str) -> TVal:
        name = f"v{len(self.lines)}"
        self.lines.append(f"{name} = {expr}")
        return TVal(self, name)

    def arg(self, a: Any) -> str:
        return a.name if isinstance(a, TVal) else _lit(a)

    def call(self, fmt: str, *args: Any) -> TVal:
        return self.emit(fmt.format(*(self.arg(a) for a in args)))

    def where(self, c: Any, a: Any, b: Any) -> TVal:
        return self.call("tl.where({}, {}, {})", c, a, b)

    def abs(self, a: Any) -> TVal:
        return self.call("tl.abs({})", a)

    def exp(self, a: Any) -> TVal:
        return self.call("tl.exp({})", a)

    def log1p(self, a: Any) -> TVal:
        return self.call("tl.log(1.0 + {})", a)

    def sqrt(self, a: Any) -> TVal:
        return self.call("tl.sqrt_rn({})", a)

    def tanh(self, a: Any) -> TVal:
        return 2.0 * self.sigmoid(2.0 * a) - 1.0

    def erfc(self, a: Any) -> TVal:
        return self.call("1.0 - tl.math.erf({})", a)

    def sigmoid(self, a: Any) -> TVal:
        return self.call("tl.math.div_rn(1.0, 1.0 + tl.exp(-{}))", a)

    def softplus(self, a: Any) -> TVal:
        return self.call("tl.maximum({0}, 0.0) + tl.log(1.0 + tl.exp(-tl.abs({0})))", a)

    def clip(self, a: Any, lo: float, hi: float) -> TVal:
        out = a
        if lo != -math.inf:
            out = self.call("tl.maximum({}, {})", out, lo)
        if hi != math.inf:
            out = self.call("tl.minimum({}, {})", out, hi)
        return out if isinstance(out, TVal) else self.call("{} + 0.0", out)

    clamp = clip

    def relu(self, a: Any) -> TVal:
        return self.call("tl.maximum({}, 0.0)", a)

    def step(self, a: Any) -> TVal:
        return self.call("({} > 0).to(tl.float32)", a)

    def recip(self, a: Any) -> TVal:
        return self.call("tl.math.div_rn(1.0, {})", a)


def trace(formula: Callable[[Any, Any], Any], inputs: str = "x") -> tuple[list[str], str]:
    """(lines, result name) of ``formula(ops, x)`` as Triton code (x is the float32 input)."""
    t = TritonTracer()
    x = TVal(t, inputs)
    try:
        y = formula(t, x)
    except NotMappable:
        raise
    except Exception as exc:  # an op the tracer lacks, a Python branch on a value, ...
        raise NotMappable(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(y, TVal):
        y = t.emit(f"x * 0.0 + {_lit(y)}")
    return t.lines, y.name


_TEMPLATE = '''import triton
import triton.language as tl

from gembench.backends.triton_kernels import _load_f32, _store_f32


@triton.jit
def forward_kernel(x_ptr, y_ptr, n_elements, BF16_BITS: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    x = _load_f32(x_ptr, offs, mask, BF16_BITS)
{fwd}
    _store_f32(y_ptr, offs, {y}, mask, BF16_BITS)


@triton.jit
def backward_kernel(x_ptr, dy_ptr, dx_ptr, n_elements, BF16_BITS: tl.constexpr,
                    BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    x = _load_f32(x_ptr, offs, mask, BF16_BITS)
    dy = _load_f32(dy_ptr, offs, mask, BF16_BITS)
{bwd}
    _store_f32(dx_ptr, offs, dy * {d}, mask, BF16_BITS)
'''


def source(spec: Activation) -> str:
    """The generated module's source for ``spec`` (its parameters baked in)."""
    fwd, y = trace(spec.forward)
    bwd, d = trace(spec.derivative)

    def indent(lines: list[str]) -> str:
        return "\n".join("    " + line for line in lines) or "    pass"

    return _TEMPLATE.format(fwd=indent(fwd), y=y, bwd=indent(bwd), d=d)


_MODULES: dict[str, Any] = {}


def module(spec: Activation) -> Any:
    """The imported module of generated kernels for ``spec`` (one per source text)."""
    text = source(spec)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    if key not in _MODULES:
        root = Path(os.environ.get("GEMBENCH_TRITON_GEN_DIR") or tempfile.gettempdir())
        path = root / f"gembench_triton_gen_{key}.py"
        if not path.exists():
            root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        spec_ = importlib.util.spec_from_file_location(f"gembench_triton_gen_{key}", path)
        assert spec_ is not None and spec_.loader is not None
        mod = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(mod)
        _MODULES[key] = mod
    return _MODULES[key]


class Generated:
    """The generated kernels behind the interface :class:`TritonKernel` launches through
    (that of :mod:`gembench.backends.triton_kernels`)."""

    def __init__(self, spec: Activation) -> None:
        from gembench.backends import triton_kernels as tk

        self._tk, mod = tk, module(spec)
        self._fwd = tk._autotuned(mod.forward_kernel, ["n_elements"])
        self._bwd = tk._autotuned(mod.backward_kernel, ["n_elements"])
        self.INTERPRET, self.CONFIGS = tk.INTERPRET, tk.CONFIGS
        self.INTERPRETER_CONFIG = tk.INTERPRETER_CONFIG
        self.FORMULATION = {spec.name: "generated from the catalog formula, float32 compute"}

    def forward(self, kp: Any, x: Any, y: Any, s: Any = None) -> Any:
        import triton

        n = x.numel()
        if n:
            (xk, bits), (yk, _) = self._tk._bits(x), self._tk._bits(y)
            self._fwd[lambda m: (triton.cdiv(n, m["BLOCK"]),)](xk, yk, n, BF16_BITS=bits)
        return y

    def backward(self, kp: Any, x: Any, dy: Any, s: Any = None) -> tuple[Any, None]:
        import torch
        import triton

        n, dx = x.numel(), torch.empty_like(x)
        if n:
            (xk, bits), (dyk, _), (dxk, _) = (self._tk._bits(a) for a in (x, dy, dx))
            self._bwd[lambda m: (triton.cdiv(n, m["BLOCK"]),)](xk, dyk, dxk, n, BF16_BITS=bits)
        return dx, None

    def chosen_config(self, which: str = "forward") -> tuple[int, int] | None:
        config = getattr(self._fwd if which == "forward" else self._bwd, "best_config", None)
        return None if config is None else (int(config.kwargs["BLOCK"]), int(config.num_warps))


def unmappable(spec: Activation) -> str | None:
    """Why ``spec`` gets no generated Triton kernel, or None."""
    if spec.learnable:
        return "generated Triton kernels do not reduce parameter gradients (learnable)"
    try:
        source(spec)
    except NotMappable as exc:
        return f"the formula does not map to Triton: {exc}"
    return None
