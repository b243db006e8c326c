"""Named shapes a suite may use instead of explicit lists."""

from __future__ import annotations

#: elementwise tensor shapes by name (element counts are powers of two).
ELEMENTWISE: dict[str, tuple[int, ...]] = {
    "1K": (1024,),
    "64K": (256, 256),
    "1M": (1024, 1024),
    "4M": (2048, 2048),
    "16M": (4096, 4096),
    "64M": (8192, 8192),
}


def sweep(lo_exp: int, hi_exp: int) -> list[tuple[int, ...]]:
    """1-D shapes 2^lo_exp ... 2^hi_exp elements."""
    return [(2**e,) for e in range(lo_exp, hi_exp + 1)]


#: block presets: (d, d_ff) for MLP blocks, (C, H, W) for conv blocks; the token/batch count
#: comes from TOKENS/BATCH per device so that a CPU run stays in minutes.
MLP: dict[str, tuple[int, int]] = {
    "gpt2_small_mlp": (768, 3072),
    "bert_small_mlp": (512, 2048),
    # Llama 2 7B's widths in an *ungated* MLP (Linear-act-Linear): not Llama's MLP, which is
    # gated (gated_mlp_block's llama7b_glu); kept under its name for comparable results.
    "llama7b_mlp": (4096, 11008),
}
CONV: dict[str, tuple[int, int, int]] = {
    "resnet56_stage1": (16, 32, 32),
    "resnet56_stage2": (32, 16, 16),
    "resnet56_stage3": (64, 8, 8),
}
#: a preset's plain name in a sentence (the verdict's; registered with its context)
MLP_TITLES = {"gpt2_small_mlp": "GPT-2 small MLP", "bert_small_mlp": "BERT-small MLP",
              "llama7b_mlp": "LLaMA-7B MLP"}
CONV_TITLES = {"resnet56_stage1": "ResNet-56 stage 1", "resnet56_stage2": "ResNet-56 stage 2",
               "resnet56_stage3": "ResNet-56 stage 3"}
TOKENS = {"cpu": 256, "cuda": 8192}
BATCH = {"cpu": 32, "cuda": 256}


def block_shape(name: str, device: str) -> tuple[int, ...]:
    """Shape of a block preset on a device: (tokens, d, d_ff) or (batch, C, H, W)."""
    if name in MLP:
        return token_shape(MLP[name], device)
    return (BATCH[_dev(device)], *CONV[name])


def token_shape(widths: tuple[int, int], device: str) -> tuple[int, int, int]:
    """(tokens, d, d_ff): an MLP's widths with the device's token count."""
    return (TOKENS[_dev(device)], *widths)


def _dev(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def activation_preset(name: str, device: str) -> tuple[int, ...]:
    """The activation tensor of a block preset, for elementwise cases ("gpt2_small_act")."""
    base = name.removesuffix("_act")
    for suffix in ("_mlp", ""):
        if base + suffix in MLP:
            t, _, d_ff = block_shape(base + suffix, device)
            return (t, d_ff)
        if base + suffix in CONV:
            return block_shape(base + suffix, device)
    raise KeyError(name)


ACTIVATION_PRESETS = [n.removesuffix("_mlp") + "_act" for n in MLP] + [n + "_act" for n in CONV]
