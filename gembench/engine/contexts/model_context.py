"""The ``model`` and ``model_compiled`` contexts: a whole model (GPT-2, a Llama-style model with
a gated MLP, ResNet-56) with every activation swapped for the case's kernel, timed round by
round against the same model with the backend's ReLU (same weights, same batch) and against
the activation alone at every call site's shape.

Passes: ``forward`` is the inference forward (eval mode, no autograd); ``forward_backward`` is
the training step (forward, loss, backward, optimizer step at learning rate 0, see
:mod:`gembench.engine.contexts.models`). Shapes are the presets of
:mod:`gembench.spec.model_presets`.
``model`` runs the model eagerly with the backend's kernel at each call site (compiled backends
compile each activation on its own); ``model_compiled`` compiles the whole model, as users do,
so that inductor fuses the activation into its neighbours, and compiles the ReLU model the same
way. The pass note says which mode a row is. Registration imports no torch; the subject imports
the models when a case is built.
"""

from __future__ import annotations

import math
from typing import Any

import gembench.engine.contexts.subject as sj
from gembench.engine.contexts.blocks import BlockSubject
from gembench.results.records import Derived, Memory, TimingRecord
from gembench.spec.contexts import ContextSpec, register_context
from gembench.spec.model_presets import PRESETS, preset_missing

_BY_SHAPE = {p.shape: p.name for p in PRESETS.values()}


class StepPass:
    """A model pass as the engine times it: ``run`` (also the callable itself), nothing to
    subtract, and a note saying what the pass holds."""

    def __init__(self, run: Any, note: str) -> None:
        self.run, self.note, self.subtract = run, note, None

    def __call__(self) -> Any:
        return self.run()


class ModelSubject(sj.Subject):
    """The case's model and the ReLU model, built from the same seed."""

    def __init__(self, args: sj.SubjectArgs) -> None:
        super().__init__(args)
        case, be = self.case, self.be
        preset = case.preset or _BY_SHAPE.get(tuple(case.shape), "")
        if preset not in PRESETS:
            raise sj.CaseSkipped(f"the model context takes a model preset ({', '.join(PRESETS)}), "
                              f"found shape {list(case.shape)}")
        why = preset_missing(preset)
        if why:
            raise sj.CaseSkipped(why)
        if not self.kern.autograd:
            raise sj.CaseSkipped(f"{case.backend} cannot sit inside a torch module (no autograd)")
        import gembench.engine.contexts.models as models

        why = self.not_compilable()
        if why:
            raise sj.CaseSkipped(why)

        def model(spec: Any) -> models.Model:
            act = models.kernel_activation(lambda: self.site_kernel(spec))
            return models.build_model(preset, act, case.dtype, case.device, self.seed)

        self.model = model(case.spec)
        self.relu_model = (self.once(("relu_model", be.name), lambda: model(case.baseline().spec))
                           if case.activation != "relu" else None)
        train = case.pass_kind.has_backward
        step = models.PASSES[case.pass_]
        self.shapes = self.model.activation_shapes()
        self.compile_models()
        sites = ", ".join(f"{n} x {list(s)}" for s, n in self.shapes.items())
        what = "training step (lr 0)" if train else "inference forward"
        self.main = StepPass(step(self.model), f"{preset} {what}, {self.mode}; activation at "
                             f"{len(self.model.sites)} call sites: {sites}")
        relu_key = f"relu_model:{be.name}"
        if self.relu_model is not None:
            self.share("relu", relu_key, lambda: StepPass(step(self.relu_model), ""))
        else:  # the ReLU model is its backend's baseline for the rest of its group
            self.shared["case"] = relu_key
        self.companions["activation"] = self.model.activation_alone(train, self.seed + 1)
        # the error check runs on the kernel the model used at its first shape
        self.act_shape = next(iter(self.shapes))
        kern = self.model.sites[0].cache[self.act_shape]
        ax, ady = sj.make_inputs(be, case, self.seed + 1, self.act_shape)
        self.check = sj.KernelCheck(be, kern, case.dtype, ax, ady, self.timing.error_elements)
        self.recheck_pass = sj.kernel_pass(kern, case.pass_, ax, ady)

    #: the model runs eagerly, each activation call is the backend's kernel
    mode = "eager model (per-activation kernels)"

    def not_compilable(self) -> str | None:
        return None

    def site_kernel(self, spec: Any) -> Any:
        return self.be.build(spec, dtype=self.case.dtype, device=self.case.device)

    def compile_models(self) -> None:
        """Nothing to compile: the model runs eagerly."""

    def elements(self) -> int:
        return sum(math.prod(s) * n for s, n in self.shapes.items())

    # the case's median and the activation's share of it, as for the blocks (act_shape: the
    # first call site's; the pass note lists them all)
    block = BlockSubject.block

    def memory(self) -> Memory:
        from gembench.activations.dtypes import DTYPES
        from gembench.engine.measuring.memory import peak_of

        mem = Memory(input_bytes=self.elements() * DTYPES[self.case.dtype].itemsize)
        if self.case.pass_kind.has_backward:
            mem.saved_bytes = self.model.saved_bytes()
            mem.saved_source = "measured (saved_tensors_hooks, unique storages, whole model)"
            mem.saved_ratio = mem.saved_bytes / mem.input_bytes
            if self.relu_model is not None:
                mem.relu_saved_bytes = self.relu_model.saved_bytes()
                mem.saved_vs_relu_block = mem.saved_bytes / mem.relu_saved_bytes
        peak = peak_of(self.main.run, self.case.device)
        mem.peak_bytes, mem.peak_source = peak["peak_bytes"], peak["peak_source"]
        if self.relu_model is not None:
            relu = self.companions["relu"]
            mem.relu_peak_bytes = peak_of(relu, self.case.device)["peak_bytes"]
            if mem.peak_bytes and mem.relu_peak_bytes:
                mem.peak_vs_relu_block = mem.peak_bytes / mem.relu_peak_bytes
        return mem

    def derived(self, rec: TimingRecord, first_call: float) -> Derived:
        return Derived(first_call=first_call, build_time=self.build_s,
                       elements_per_second=self.elements() / rec.median)


class CompiledModelSubject(ModelSubject):
    """The whole model compiled as users do (``torch.compile(model)``), the activation written
    as the backend's torch code inside it; the ReLU model is compiled the same way. For the
    torch_compile backends the activation is their uncompiled torch code (the model is
    compiled whole, not kernel by kernel)."""

    mode = "whole model compiled (torch.compile(model), inductor)"

    def not_compilable(self) -> str | None:
        if self.case.backend == "triton":
            return ("whole-model compile needs the activation as torch code inductor can "
                    "trace; triton's hand-written kernels are timed in the model context")
        return None

    def site_kernel(self, spec: Any) -> Any:
        kern = super().site_kernel(spec)
        return getattr(kern, "inner", kern)  # CompileKernel: compile the model, not the kernel

    def compile_models(self) -> None:
        """Compile the case's model, and the group's shared ReLU model once. Every model of a
        comparison group is alive at once and they share their classes' code objects, so
        dynamo's per-code cache limit is raised (past it dynamo would run eager code)."""
        import torch._dynamo.config as dynamo_config

        for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                     "accumulated_recompile_limit"):
            if hasattr(dynamo_config, name):
                setattr(dynamo_config, name, max(getattr(dynamo_config, name), 512))
        self.model.compile()
        if self.relu_model is not None:
            self.once(("relu_model_compiled", self.be.name), self.relu_model.compile)


for _name, _subject, _what in (
        ("model", ModelSubject, "a whole model (GPT-2, Llama-style, ResNet-56) with every "
         "activation swapped: inference forward and training step against the ReLU model"),
        ("model_compiled", CompiledModelSubject, "the model context with the whole model "
         "compiled (torch.compile(model)), activation and ReLU models alike")):
    register_context(ContextSpec(
        name=_name, subject=_subject, passes=("forward", "forward_backward"),
        default_cache=("hot",), presets=sorted(PRESETS), resolve=lambda n, d: PRESETS[n].shape,
        rank=None, shape_help="a model preset name", description=_what))
