"""Whole models with every activation swapped: GPT-2 and a Llama-style model (Hugging Face
``transformers``, random init, no download; Llama's activation is its MLP's gate) and ResNet-56
for CIFAR (written here), for the inference forward and the training step; either eager or
compiled whole (:meth:`Model.compile`).

``build_model(preset, activation, dtype, device, seed)`` seeds torch, builds the model with its
own activation, and only then puts a fresh ``activation()`` module at every call site, so the
weights are the same for any activation (and the same as the ReLU model's).

The training step is forward, loss, backward and an optimizer step with **learning rate 0**:
torch does the optimizer's full arithmetic (it never skips a zero rate) but the weights stay as
built, so every timed step of the case and of its ReLU model sees the same weights, however
many steps each is timed for (a calibrated sample may hold more steps of one than the other).
GPT-2 steps with AdamW (as it was trained), ResNet-56 with SGD + momentum 0.9 (as in He et
al.). Dropout is 0 so both models compute the same thing on the same batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gembench.backends.torch_common import TORCH_DTYPES
from gembench.spec.model_presets import PRESETS, preset_missing

ActivationFactory = Callable[[], nn.Module]


class ModelUnavailable(Exception):
    """The model cannot be built here (an optional dependency is missing); says why."""


@dataclass
class Model:
    """A built model, its batch, its loss, its optimizer and its activation call sites."""

    preset: str
    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
    optimizer: torch.optim.Optimizer
    sites: list[nn.Module] = field(default_factory=list)

    def inference(self) -> Callable[[], Any]:
        """The inference forward (eval mode, no autograd) as a callable."""
        self.model.eval()

        def run() -> Any:
            with torch.no_grad():
                return self.model(self.inputs[0])
        return run

    def train_step(self) -> Callable[[], Any]:
        """One training step (forward, loss, backward, optimizer step at lr 0)."""
        self.model.train()

        def run() -> Any:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model, self.inputs)
            loss.backward()
            self.optimizer.step()
            return loss
        return run

    def activation_shapes(self) -> Counter[tuple[int, ...]]:
        """Input shape of every activation call in one forward, with how many calls see it."""
        shapes: Counter[tuple[int, ...]] = Counter()
        hooks = [m.register_forward_pre_hook(lambda _m, a: shapes.update([tuple(a[0].shape)]))
                 for m in self.sites]
        try:
            self.inference()()
        finally:
            for h in hooks:
                h.remove()
        return shapes

    def activation_alone(self, train: bool, seed: int = 1) -> Callable[[], Any]:
        """The activation by itself at every call site's shape: forward (``train`` False) or
        forward and backward, summed over the sites, for its share of the model's pass."""
        act = self.sites[0]
        gen = torch.Generator().manual_seed(seed)
        ref = next(self.model.parameters())
        xs = []
        for shape, count in sorted(self.activation_shapes().items()):
            x = torch.randn(shape, generator=gen).to(device=ref.device, dtype=ref.dtype)
            xs += [(x.requires_grad_(train), torch.randn_like(x))] * count

        def run() -> Any:
            if not train:
                with torch.no_grad():
                    return [act(x) for x, _ in xs]
            return [torch.autograd.grad(act(x), x, dy) for x, dy in xs]
        return run

    def compile(self) -> None:
        """Compile the whole model as users do (``torch.compile(model)``, inductor, default
        mode, static shapes): inductor fuses each activation into its neighbours."""
        self.eager = self.model
        self.model = torch.compile(self.model, dynamic=False)

    def saved_bytes(self) -> int:
        """Bytes autograd saves for backward in one training forward (unique storages)."""
        from gembench.engine.measuring.memory import saved_for_backward

        self.model.train()
        return int(saved_for_backward(lambda: self.loss_fn(self.model, self.inputs),
                                      self.inputs[0])["saved_bytes"])


class ShapeKernels(nn.Module):
    """A call site running a backend kernel built for the shape it sees: compiled backends
    compile once per static shape, so every call site sharing a ``cache`` shares one kernel
    per shape (ResNet-56's 55 sites see 3 shapes). Learnable activation parameters are not
    model parameters here (the optimizer does not step them)."""

    def __init__(self, build: Callable[[], Any], cache: dict[tuple[int, ...], Any]) -> None:
        super().__init__()
        self.build, self.cache = build, cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key not in self.cache:
            self.cache[key] = self.build()
        return self.cache[key].forward(x)


def kernel_activation(build: Callable[[], Any]) -> ActivationFactory:
    """An activation factory for ``build_model`` from a kernel builder (``lambda:
    backend.build(spec, dtype, device)``): one kernel per shape, shared by all call sites."""
    cache: dict[tuple[int, ...], Any] = {}
    return lambda: ShapeKernels(build, cache)


# --------------------------------------------------------------------------- GPT-2


def _lm_loss(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return model(input_ids=inputs[0], labels=inputs[0]).loss


def _build_gpt2(opts: dict[str, Any], gen: torch.Generator) -> tuple[nn.Module, tuple, Any]:
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab = opts.get("vocab", 50257)
    config = GPT2Config(n_layer=opts["n_layer"], n_embd=opts.get("n_embd", 768),
                        n_head=opts.get("n_head", 12), vocab_size=vocab,
                        n_positions=max(1024, opts["seq"]), resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, use_cache=False, bos_token_id=vocab - 1,
                        eos_token_id=vocab - 1, loss_type="ForCausalLM")
    model = GPT2LMHeadModel(config)
    ids = torch.randint(vocab, (opts["batch"], opts["seq"]), generator=gen)
    return model, (ids,), _lm_loss


def _gpt2_sites(model: nn.Module, activation: ActivationFactory) -> list[nn.Module]:
    sites = []
    for block in model.transformer.h:
        block.mlp.act = activation()  # GPT2MLP.forward calls self.act between c_fc and c_proj
        sites.append(block.mlp.act)
    return sites


# --------------------------------------------------------------------------- Llama


def _build_llama(opts: dict[str, Any], gen: torch.Generator) -> tuple[nn.Module, tuple, Any]:
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = opts["vocab"]
    config = LlamaConfig(hidden_size=opts["hidden"], intermediate_size=opts["ffn"],
                         num_hidden_layers=opts["n_layer"], num_attention_heads=opts["n_head"],
                         num_key_value_heads=opts["n_head"], vocab_size=vocab,
                         max_position_embeddings=max(2048, opts["seq"]), attention_dropout=0.0,
                         use_cache=False, bos_token_id=vocab - 1, eos_token_id=vocab - 1,
                         pad_token_id=None, hidden_act="silu")
    model = LlamaForCausalLM(config)
    ids = torch.randint(vocab, (opts["batch"], opts["seq"]), generator=gen)
    return model, (ids,), _lm_loss


def _llama_sites(model: nn.Module, activation: ActivationFactory) -> list[nn.Module]:
    sites = []
    for layer in model.model.layers:
        # LlamaMLP.forward: down_proj(act_fn(gate_proj(x)) * up_proj(x)): the gate
        layer.mlp.act_fn = activation()
        sites.append(layer.mlp.act_fn)
    return sites


# --------------------------------------------------------------------------- ResNet-56


class _Act(nn.Module):
    """A call-site placeholder: ReLU until the model's activation is put in."""

    def __init__(self) -> None:
        super().__init__()
        self.fn: nn.Module = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class CifarBlock(nn.Module):
    """Basic block; a stride-2 block subsamples the shortcut and zero-pads its channels
    (He et al.'s option A for CIFAR: the shortcut has no weights)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act1, self.act2 = _Act(), _Act()
        self.stride, self.pad = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return self.act2(out + short)


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for 32 x 32 images: 3 stages of n blocks, 16/32/64 channels, 10 classes."""

    def __init__(self, blocks: int, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = _Act()
        layers, c_in = [], 16
        for c_out in (16, 32, 64):
            for i in range(blocks):
                layers.append(CifarBlock(c_in, c_out, 2 if (i == 0 and c_out != 16) else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.act(self.bn(self.conv(x))))
        return self.fc(out.mean(dim=(2, 3)))


def _ce_loss(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return F.cross_entropy(model(inputs[0]), inputs[1])


def _build_resnet(opts: dict[str, Any], gen: torch.Generator) -> tuple[nn.Module, tuple, Any]:
    model = ResNetCifar(opts["blocks"])
    images = torch.randn(opts["batch"], 3, 32, 32, generator=gen)
    labels = torch.randint(10, (opts["batch"],), generator=gen)
    return model, (images, labels), _ce_loss


def _resnet_sites(model: nn.Module, activation: ActivationFactory) -> list[nn.Module]:
    sites = []
    for m in model.modules():
        if isinstance(m, _Act):
            m.fn = activation()
            sites.append(m.fn)
    return sites


@dataclass(frozen=True)
class Family:
    build: Callable[[dict[str, Any], torch.Generator], tuple[nn.Module, tuple, Any]]
    swap: Callable[[nn.Module, ActivationFactory], list[nn.Module]]
    optimizer: Callable[[Any], torch.optim.Optimizer]


FAMILIES: dict[str, Family] = {
    "gpt2": Family(_build_gpt2, _gpt2_sites, lambda ps: torch.optim.AdamW(ps, lr=0.0)),
    "llama": Family(_build_llama, _llama_sites, lambda ps: torch.optim.AdamW(ps, lr=0.0)),
    "resnet": Family(_build_resnet, _resnet_sites,
                     lambda ps: torch.optim.SGD(ps, lr=0.0, momentum=0.9)),
}


def build_model(preset: str, activation: ActivationFactory, dtype: str = "float32",
                device: str = "cpu", seed: int = 0) -> Model:
    """The preset's model with ``activation()`` at every activation call site.

    Weights and batch depend only on ``preset`` and ``seed`` (not on the activation).
    Raises :class:`ModelUnavailable` when an optional dependency is missing.
    """
    p = PRESETS[preset]
    why = preset_missing(preset)
    if why:
        raise ModelUnavailable(why)
    fam = FAMILIES[p.family]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model, inputs, loss_fn = fam.build(p.options, gen)
    sites = fam.swap(model, activation)
    model = model.to(device=device, dtype=TORCH_DTYPES[dtype])
    inputs = tuple(t.to(device) for t in inputs)
    if inputs[0].is_floating_point():
        inputs = (inputs[0].to(TORCH_DTYPES[dtype]), *inputs[1:])
    opt = fam.optimizer([q for q in model.parameters() if q.requires_grad])
    return Model(preset, model, inputs, loss_fn, opt, sites)


def same_weights(a: Model, b: Model) -> bool:
    """Whether two models hold identical weights (activation parameters aside; BatchNorm's
    running statistics are buffers, not weights, and follow each model's activations)."""
    sa, sb = dict(a.model.named_parameters()), dict(b.model.named_parameters())
    keys = [k for k in sa if ".act" not in k and not k.startswith("act")]
    return bool(keys) and all(k in sb and torch.equal(sa[k], sb[k]) for k in keys)


PASSES: dict[str, Callable[[Model], Callable[[], Any]]] = {
    "forward": Model.inference,
    "forward_backward": Model.train_step,
}
