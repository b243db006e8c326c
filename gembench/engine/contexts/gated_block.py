"""The ``gated_mlp_block`` context: a gated transformer MLP, ``down(act(x W_gate) * (x W_up))``
(no biases, as in Llama), with the case's activation as the gate: GEM-GLU, SwiGLU (silu),
GeGLU (gelu), ReGLU (relu, the baseline every case is timed against), or any other.

The gate product act(g) * u is where a backend may fuse (:data:`GATE_PRODUCTS`):

- ``torch_fused``: one ``torch.autograd.Function`` computes act(g) * u and its backward
  (dg = dy u f'(g), du = dy f(g)), saving only g and u;
- ``torch_compile``: the eager gate product (kernel forward, then the multiply) compiled as one
  graph, so inductor fuses the multiply into the activation; ``torch_compile_fused``: the fused
  ``autograd.Function`` compiled;
- any other backend (``torch_eager``, ``triton``, registered implementations): the kernel's
  activation, then a separate multiply.

Saved bytes are measured over the whole block as for every block context. Registration imports
no torch: the torch parts are built when a case is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gembench.spec.presets as presets
from gembench.engine.contexts.blocks import BlockShapes, BlockSubject, register_block

GateProduct = Callable[[Any, Any], Any]


@functools.cache
def _torch_parts() -> Any:
    """(GatedMLP, GatedFunction), defined on first use (torch imported then)."""
    import torch
    from torch import nn

    class GatedFunction(torch.autograd.Function):
        """y = f(g) * u in one function; backward recomputes f(g) and f'(g) from g."""

        @staticmethod
        def forward(ctx: Any, g: Any, u: Any, kernel: Any) -> Any:
            ctx.kernel = kernel
            ctx.save_for_backward(g, u)
            f = kernel.spec.forward(kernel.ops, g.to(kernel.compute))
            return (f * u.to(kernel.compute)).to(g.dtype)

        @staticmethod
        def backward(ctx: Any, dy: Any) -> Any:
            g, u = ctx.saved_tensors
            k = ctx.kernel
            gc, dyc = g.to(k.compute), dy.to(k.compute)
            dg = dyc * u.to(k.compute) * k.spec.derivative(k.ops, gc)
            du = dyc * k.spec.forward(k.ops, gc)
            return dg.to(g.dtype), du.to(u.dtype), None

    class GatedMLP(nn.Module):
        """down(act(x W_gate) * (x W_up)); ``product(g, u)`` is act(g) * u."""

        def __init__(self, d: int, d_ff: int, act: nn.Module, product: GateProduct) -> None:
            super().__init__()
            self.gate = nn.Linear(d, d_ff, bias=False)
            self.up = nn.Linear(d, d_ff, bias=False)
            self.down = nn.Linear(d_ff, d, bias=False)
            self.act, self.product = act, product  # act: registers learnable parameters

        def forward(self, x: Any) -> Any:
            return self.down(self.product(self.gate(x), self.up(x)))

    return GatedMLP, GatedFunction


def unfused(kern: Any, act: Any) -> GateProduct:
    """act(g), then a separate multiply (the eager form; the reference of the fused ones)."""
    return lambda g, u: act(g) * u


def fused(kern: Any, act: Any) -> GateProduct:
    """torch_fused: one autograd.Function for act(g) * u and its backward."""
    if kern.spec.learnable:  # dL/ds through the function is not written: eager form
        return unfused(kern, act)
    fn = _torch_parts()[1]
    return lambda g, u: fn.apply(g, u, kern)


def _compiled(product: GateProduct, label: str) -> GateProduct:
    import torch

    from gembench.backends.torch_compile import COMPILE_OPTIONS, _fresh_function

    def gate_product(g: Any, u: Any) -> Any:
        return product(g, u)

    return torch.compile(_fresh_function(gate_product, label), **COMPILE_OPTIONS)


def compiled(kern: Any, act: Any) -> GateProduct:
    """torch_compile: the eager gate product (kernel forward and multiply) as one graph."""
    inner = kern.inner.forward
    return _compiled(lambda g, u: inner(g) * u, f"glu_{kern.spec.name}")


def compiled_fused(kern: Any, act: Any) -> GateProduct:
    """torch_compile_fused: the fused autograd.Function, compiled."""
    return _compiled(fused(kern.inner, act), f"glu_fused_{kern.spec.name}")


#: backend -> how its block forms act(g) * u (any other backend: :func:`unfused`)
GATE_PRODUCTS: dict[str, Callable[[Any, Any], GateProduct]] = {
    "torch_fused": fused,
    "torch_compile": compiled,
    "torch_compile_fused": compiled_fused,
}


def build_gated(shape: tuple[int, ...], kern: Any, backend: str, dtype: str, device: str,
                seed: int = 0) -> Any:
    """The gated MLP of ``shape`` (tokens, d, d_ff) with ``kern`` as its gate; the weights
    depend on the seed only (the same for the case and its ReGLU baseline)."""
    import torch

    from gembench.backends.torch_common import TORCH_DTYPES
    from gembench.engine.contexts.torch_blocks import KernelActivation

    gated_mlp = _torch_parts()[0]
    torch.manual_seed(seed)
    act = KernelActivation(kern)
    product = GATE_PRODUCTS.get(backend, unfused)(kern, act)
    block = gated_mlp(shape[1], shape[2], act, product)
    for child in (block.gate, block.up, block.down):
        child.to(device=device, dtype=TORCH_DTYPES[dtype])
    return block


def gate_product_note(backend: str) -> str:
    """How ``backend``'s block forms act(g) * u, in words (the pass note)."""
    doc = (GATE_PRODUCTS.get(backend, unfused).__doc__ or "").strip()
    return "gate product " + doc.split(": ", 1)[-1]


class GatedSubject(BlockSubject):
    """The gated MLP with the case's activation as its gate, against the ReGLU block."""

    def make_block(self, kern: Any) -> Any:
        case = self.case
        return build_gated(case.shape, kern, case.backend, case.dtype, case.device, self.seed)

    def _block_pass(self, module: Any) -> Any:
        timed = super()._block_pass(module)
        timed.note = "; ".join(filter(None, [gate_product_note(self.case.backend), timed.note]))
        return timed


#: gated MLP presets (d, d_ff): down(act(x W_gate) * (x W_up)), as in Llama, Mistral, Qwen
GLU: dict[str, tuple[int, int]] = {
    "llama7b_glu": (4096, 11008),  # Llama 2 7B
    "small_glu": (512, 1376),  # a small Llama-style width (d_ff = 8/3 d, rounded to 32)
}

register_block("gated_mlp_block", BlockShapes("gated", lambda s: s[:2], lambda s: (s[0], s[2])),
               sorted(GLU), 3, "[tokens, d, d_ff]",
               "gated transformer MLP (Llama): down(act(x W_gate) * (x W_up)); ReGLU baseline",
               base=GatedSubject, resolve=lambda name, device: presets.token_shape(GLU[name],
                                                                                   device),
               titles={"llama7b_glu": "LLaMA-7B gated MLP", "small_glu": "small gated MLP"})
