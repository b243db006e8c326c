"""The ``elementwise`` context: the activation alone on a tensor, with its same-backend ReLU,
the anchor ReLU (torch eager ``torch.relu``) and the copy ceiling timed in the same rounds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gembench.spec.presets as presets
from gembench.activations.dtypes import DTYPES
from gembench.engine.contexts.subject import (
    KernelCheck,
    Subject,
    SubjectArgs,
    kernel_pass,
    make_inputs,
)
from gembench.engine.measuring.memory import peak_of, saved_for_backward
from gembench.engine.measuring.passes import TimedPass
from gembench.engine.measuring.timing import Interleaved
from gembench.results.records import Derived, Memory, RatioStats, TimingRecord
from gembench.spec.contexts import ContextSpec, register_context

#: the anchor every elementwise case is timed with: ``torch.relu`` on this backend.
ANCHOR_BACKEND = "torch_eager"


def _copy_fn(case: Any) -> Any:
    """The bandwidth ceiling: a plain copy of a tensor of the case's size into a buffer."""
    import torch

    from gembench.backends.torch_common import TORCH_DTYPES

    src = torch.randn(case.shape, device=case.device).to(TORCH_DTYPES[case.dtype])
    dst = torch.empty_like(src)
    return lambda: dst.copy_(src)


class ElementwiseSubject(Subject):
    """The case's kernel on an input of the case's shape."""

    def __init__(self, args: SubjectArgs) -> None:
        super().__init__(args)
        case = self.case
        self.x, self.dy = self.once(("inputs", self.be.name),
                                    lambda: make_inputs(self.be, case, self.seed))
        self.main = self.recheck_pass = kernel_pass(self.kern, case.pass_, self.x, self.dy)
        self.check = KernelCheck(self.be, self.kern, case.dtype, self.x, self.dy,
                                 self.timing.error_elements)
        relu_key = f"relu:{self.be.name}"
        relu = self.build_relu()
        if relu is not None:
            self.share("relu", relu_key, lambda: kernel_pass(relu, case.pass_, self.x, self.dy))
        else:  # a ReLU case is its backend's baseline for the rest of its group
            self.shared["case"] = relu_key
        self.self_anchor = case.backend == ANCHOR_BACKEND and case.activation == "relu"
        if not self.self_anchor:
            self.share("anchor", "anchor", self._anchor)
        self.share("copy", "copy", lambda: _copy_fn(case))
        if case.pass_ == "forward" and self.kern.supports_out:
            # the forward into a preallocated output, timed in the same rounds
            out = self.be.empty_like(self.x)
            self.companions["prealloc"] = lambda: self.kern.forward(self.x, out=out)

    def _anchor(self) -> TimedPass:
        import torch

        from gembench.backends import backend

        anchor = backend(ANCHOR_BACKEND)
        ax, ady = make_inputs(anchor, self.case, self.seed)
        return TimedPass(torch.relu, self.case.pass_, ax, ady)

    def timing_record(self, res: Interleaved, rec: TimingRecord) -> None:
        super().timing_record(res, rec)
        if self.self_anchor:
            rec.anchor = rec.stats()
            rec.ratio_to_anchor = RatioStats.identity(rec.count or 0)
        else:
            rec.anchor = self.stats(res, "anchor")
            rec.ratio_to_anchor = self.ratio(res, "case", "anchor")
        rec.copy = res.stats("copy")
        rec.ratio_to_copy = self.ratio(res, "case", "copy")
        if "prealloc" in res:
            rec.prealloc = res.stats("prealloc")

    def memory(self) -> Memory:
        """What a training step keeps for this activation's backward (whatever the timed
        pass), and the peak memory of one timed call."""
        kern, case = self.kern, self.case
        input_bytes = case.numel * DTYPES[case.dtype].itemsize
        mem = Memory(input_bytes=input_bytes)
        if kern.autograd:
            xg = self.x.detach().requires_grad_(True)
            mem = replace(mem, **saved_for_backward(lambda: kern.forward(xg), xg))
        elif kern.saves.input_only:
            mem.saved_bytes = mem.saved_bytes_input_alias = input_bytes
            mem.saved_source = f"declared: {kern.saves}"
        else:
            mem.saved_source = str(kern.saves) or "unknown"
        if mem.saved_bytes is not None:
            mem.saved_ratio = mem.saved_bytes / input_bytes
        return replace(mem, **peak_of(self.main.run, case.device))

    def derived(self, rec: TimingRecord, first_call: float) -> Derived:
        case, med = self.case, rec.median
        itemsize = DTYPES[case.dtype].itemsize
        nbytes = self.kern.spec.bytes_per_element(itemsize, case.pass_) * case.numel
        copy_bw = 2 * case.numel * itemsize / rec.copy.median if rec.copy else None
        return Derived(bytes_moved=nbytes, bandwidth=nbytes / med, copy_bandwidth=copy_bw,
                       bandwidth_fraction=(nbytes / med) / copy_bw if copy_bw else None,
                       elements_per_second=case.numel / med, first_call=first_call,
                       build_time=self.build_s,
                       compile_time=max(0.0, first_call - med) if self.be.compiles else None)


def _resolve(name: str, device: str) -> tuple[int, ...]:
    if name in presets.ELEMENTWISE:
        return presets.ELEMENTWISE[name]
    return presets.activation_preset(name, device)


register_context(ContextSpec(
    name="elementwise", subject=ElementwiseSubject, default_cache=("hot", "cold"),
    presets=sorted(presets.ELEMENTWISE) + presets.ACTIVATION_PRESETS, resolve=_resolve,
    description="the activation alone on a tensor"))
