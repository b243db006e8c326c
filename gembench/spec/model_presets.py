"""Whole-model presets (torch-free, so suites can be validated without importing torch).

Each preset names a model family and its size. CPU presets are small enough for a shared
2-core machine; the full-size presets are for GPUs. A preset's ``shape`` is what goes into the
case: GPT-2 (batch, tokens, layers), Llama (batch, tokens, layers, width), ResNet (batch,
depth).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelPreset:
    """A model family and its size options."""

    name: str
    family: str
    options: dict[str, Any]
    summary: str

    @property
    def shape(self) -> tuple[int, ...]:
        o = self.options
        if self.family == "gpt2":
            return (o["batch"], o["seq"], o["n_layer"])
        if self.family == "llama":
            return (o["batch"], o["seq"], o["n_layer"], o["hidden"])
        return (o["batch"], 6 * o["blocks"] + 2)


PRESETS: dict[str, ModelPreset] = {p.name: p for p in [
    ModelPreset("gpt2_small_2l", "gpt2", {"n_layer": 2, "batch": 1, "seq": 128},
                "GPT-2 small widths (768, 12 heads, vocab 50257), 2 layers, 1 x 128 tokens (CPU)"),
    ModelPreset("gpt2_small", "gpt2", {"n_layer": 12, "batch": 8, "seq": 1024},
                "GPT-2 small, 12 layers, 8 x 1024 tokens (GPU)"),
    ModelPreset("gpt2_tiny", "gpt2", {"n_layer": 1, "n_embd": 64, "n_head": 2, "vocab": 512,
                                      "batch": 1, "seq": 32}, "GPT-2 shape, tiny (tests)"),
    ModelPreset("llama_small_2l", "llama", {"n_layer": 2, "hidden": 768, "ffn": 2048,
                                            "n_head": 12, "vocab": 32000, "batch": 1,
                                            "seq": 128},
                "Llama-style (gated MLP, RMSNorm, RoPE; transformers' LlamaConfig, random "
                "init), 768 wide, MLP 2048, 2 layers, 1 x 128 tokens (CPU)"),
    ModelPreset("llama_small", "llama", {"n_layer": 12, "hidden": 768, "ffn": 2048,
                                         "n_head": 12, "vocab": 32000, "batch": 8, "seq": 1024},
                "Llama-style, 768 wide, 12 layers, 8 x 1024 tokens (GPU)"),
    ModelPreset("llama_tiny", "llama", {"n_layer": 1, "hidden": 64, "ffn": 172, "n_head": 2,
                                        "vocab": 512, "batch": 1, "seq": 32},
                "Llama shape, tiny (tests)"),
    ModelPreset("resnet56_b8", "resnet", {"blocks": 9, "batch": 8},
                "ResNet-56 for CIFAR, batch 8 x 3 x 32 x 32 (CPU)"),
    ModelPreset("resnet56", "resnet", {"blocks": 9, "batch": 128},
                "ResNet-56 for CIFAR, batch 128 (GPU)"),
    ModelPreset("resnet8_tiny", "resnet", {"blocks": 1, "batch": 2},
                "ResNet-8 (one block per stage), batch 2 (tests)"),
]}


def transformers_missing() -> str | None:
    """Why the GPT-2 models cannot be built here, or None."""
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        return f"needs the optional extra gembench[models] (transformers): {exc}"
    return None


#: family -> why it cannot be built here (None: it can)
MISSING: dict[str, Callable[[], str | None]] = {
    "gpt2": transformers_missing,
    "llama": transformers_missing,
    "resnet": lambda: None,
}


def preset_missing(preset: str) -> str | None:
    """Why a preset cannot be built here (a missing optional dependency), or None."""
    return MISSING[PRESETS[preset].family]()
