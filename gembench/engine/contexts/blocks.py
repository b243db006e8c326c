"""Block contexts (``mlp_block``, ``conv_block``): the activation inside the block it sits in,
timed with the same block (same weights) using the backend's ReLU, and the activation alone at
the shape it sees inside the block."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gembench.spec.presets as presets
from gembench.activations.dtypes import DTYPES
from gembench.engine.contexts.subject import (
    CaseSkipped,
    KernelCheck,
    Subject,
    SubjectArgs,
    kernel_pass,
    make_inputs,
)
from gembench.engine.measuring.memory import peak_of, saved_for_backward
from gembench.engine.measuring.passes import TimedPass
from gembench.engine.measuring.timing import Interleaved
from gembench.results.records import Block, Derived, Memory, TimingRecord
from gembench.spec.contexts import ContextSpec, register_context


@dataclass(frozen=True)
class BlockShapes:
    """How a block context reads its shape: the module's name in
    :mod:`gembench.engine.contexts.torch_blocks`, its input shape and the activation's shape."""

    module: str
    input_shape: Callable[[tuple[int, ...]], tuple[int, ...]]
    activation_shape: Callable[[tuple[int, ...]], tuple[int, ...]]


class BlockSubject(Subject):
    """A torch block whose activation is the case's kernel."""

    shapes: BlockShapes

    def __init__(self, args: SubjectArgs) -> None:
        super().__init__(args)
        import torch

        case, kern = self.case, self.kern
        if not kern.autograd:
            raise CaseSkipped(f"{case.backend} cannot sit inside a torch module (no autograd)")
        relu = self.build_relu() or self.be.build(case.spec, dtype=case.dtype, device=case.device)
        self.module = self.make_block(kern)
        self.relu_module = self.once(("relu_block_module", self.be.name),
                                     lambda: self.make_block(relu))
        x, _ = make_inputs(self.be, case, self.seed, self.shapes.input_shape(case.shape))
        self.x, self.dy = x, torch.randn_like(x)
        self.act_shape = self.shapes.activation_shape(case.shape)
        self.ax, self.ady = make_inputs(self.be, case, self.seed + 1, self.act_shape)
        self.main = self._block_pass(self.module)
        relu_key = f"relu_block:{self.be.name}"
        if case.activation != "relu":
            self.share("relu", relu_key, lambda: self._block_pass(self.relu_module))
        else:  # the ReLU block is its backend's baseline for the rest of its group
            self.shared["case"] = relu_key
        self.companions["activation"] = self.recheck_pass = kernel_pass(
            kern, case.pass_, self.ax, self.ady)
        self.check = KernelCheck(self.be, kern, case.dtype, self.ax, self.ady,
                                 self.timing.error_elements)

    def make_block(self, kern: Any) -> Any:
        """The block module of the case's shape with ``kern`` as its activation."""
        import gembench.engine.contexts.torch_blocks as contexts

        case = self.case
        return contexts.build_block(self.shapes.module, case.shape, kern, case.dtype,
                                    case.device, self.seed)

    def _block_pass(self, module: Any) -> TimedPass:
        """Forward in eval mode without autograd; forward+backward in train mode, with the
        weights' (and learnable activation parameters') gradients."""
        params = [p for p in module.parameters() if p.requires_grad]
        return TimedPass(module, self.case.pass_, self.x, self.dy, params=params,
                         train=module.train)

    def block(self, res: Interleaved) -> Block:
        share = self.ratio(res, "activation", "case")
        return Block(median=res.stats("case").median, activation=res.stats("activation"),
                     activation_share=share.median, activation_share_q=share,
                     activation_shape=list(self.act_shape))

    def memory(self) -> Memory:
        itemsize = DTYPES[self.case.dtype].itemsize
        mem = Memory(input_bytes=int(math.prod(self.act_shape)) * itemsize)
        if self.case.pass_ == "forward_backward":
            saved = []
            for blk in (self.module, self.relu_module):
                blk.train()
                xg = self.x.detach().requires_grad_(True)
                saved.append(saved_for_backward(lambda blk=blk, xg=xg: blk(xg), xg)
                             ["saved_bytes"])
            mem.saved_bytes, mem.relu_saved_bytes = saved
            mem.saved_source = "measured (saved_tensors_hooks, unique storages, whole block)"
            mem.saved_ratio = mem.saved_bytes / mem.input_bytes
            mem.saved_vs_relu_block = saved[0] / saved[1] if saved[1] else None
        peak = peak_of(self.main.run, self.case.device)
        mem.peak_bytes, mem.peak_source = peak["peak_bytes"], peak["peak_source"]
        relu = self.companions.get("relu", self.main)
        mem.relu_peak_bytes = peak_of(relu.run, self.case.device)["peak_bytes"]  # type: ignore[union-attr]
        if mem.peak_bytes and mem.relu_peak_bytes:
            mem.peak_vs_relu_block = mem.peak_bytes / mem.relu_peak_bytes
        return mem

    def derived(self, rec: TimingRecord, first_call: float) -> Derived:
        return Derived(first_call=first_call, build_time=self.build_s,
                       elements_per_second=math.prod(self.act_shape) / rec.median)


def register_block(name: str, shapes: BlockShapes, names: list[str], rank: int,
                   shape_help: str, description: str,
                   base: type[BlockSubject] = BlockSubject,
                   resolve: Callable[[str, str], tuple[int, ...]] = presets.block_shape,
                   titles: dict[str, str] | None = None) -> ContextSpec:
    """Register a block context measured by :class:`BlockSubject` (or a subclass); its presets
    are ``names``, ``resolve(name, device)`` their shapes, ``titles`` their plain names."""
    subject = type(f"{name}Subject", (base,), {"shapes": shapes})
    return register_context(ContextSpec(
        name=name, subject=subject, passes=("forward", "forward_backward"),
        default_cache=("hot",), presets=names, resolve=resolve, rank=rank,
        shape_help=shape_help, description=description, shard_weight=8.0, titles=titles or {}))


register_block("mlp_block", BlockShapes("mlp", lambda s: s[:2], lambda s: (s[0], s[2])),
               sorted(presets.MLP), 3, "[tokens, d, d_ff]",
               "transformer MLP, ungated: Linear(d, d_ff) -> activation -> Linear(d_ff, d) "
               "(gated MLPs: gated_mlp_block)", titles=presets.MLP_TITLES)
register_block("conv_block", BlockShapes("conv", lambda s: s, lambda s: s),
               sorted(presets.CONV), 4, "[batch, C, H, W]",
               "ResNet basic block: conv-BN-act-conv-BN-add-act", titles=presets.CONV_TITLES)
