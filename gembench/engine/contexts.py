"""Block contexts: the activation inside the block it sits in (a transformer MLP, a ResNet
basic block), built from torch modules with the activation supplied by the chosen backend."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gembench.backends.base import Kernel
from gembench.backends.torch_common import TORCH_DTYPES


class KernelActivation(nn.Module):
    """An ``nn.Module`` whose forward is a backend kernel's (autograd-capable) forward."""

    def __init__(self, kern: Kernel) -> None:
        super().__init__()
        self.kern = kern
        # learnable activation parameters become module parameters (they get gradients)
        self.extra = nn.ParameterList(
            [p for p in getattr(kern, "params", {}).values() if isinstance(p, nn.Parameter)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kern.forward(x)


class MLPBlock(nn.Module):
    """Linear(d, d_ff) -> activation -> Linear(d_ff, d), on tokens x d inputs."""

    def __init__(self, d: int, d_ff: int, act: nn.Module) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, d_ff)
        self.act = act
        self.fc2 = nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class BasicBlock(nn.Module):
    """ResNet basic block for CIFAR: conv3x3 -> BN -> act -> conv3x3 -> BN -> +x -> act."""

    def __init__(self, channels: int, act: nn.Module) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + x)


def build_block(context: str, shape: tuple[int, ...], kern: Kernel, dtype: str, device: str,
                seed: int = 0) -> nn.Module:
    """The block for a case: MLP shape (tokens, d, d_ff); conv shape (batch, C, H, W)."""
    torch.manual_seed(seed)  # the same weights for the case and its ReLU baseline
    act = KernelActivation(kern)
    if context == "mlp_block":
        _, d, d_ff = shape
        block: nn.Module = MLPBlock(d, d_ff, act)
    elif context == "conv_block":
        block = BasicBlock(shape[1], act)
    else:
        raise ValueError(f"not a block context: {context}")
    return block.to(device=device, dtype=TORCH_DTYPES[dtype])


def block_input_shape(context: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[:2] if context == "mlp_block" else shape


def activation_shape(context: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the tensor the activation sees inside the block (for its share of the time)."""
    if context == "mlp_block":
        return (shape[0], shape[2])
    return shape


def block_pass(block: nn.Module, pass_: str, x: torch.Tensor, dy: torch.Tensor) -> Any:
    """The timed callable of a block pass; forward+backward includes the weights' gradients."""
    params = [p for p in block.parameters() if p.requires_grad]
    if pass_ == "forward":
        block.eval()

        def run() -> Any:
            with torch.no_grad():
                return block(x)
        return run
    if pass_ == "forward_backward":
        block.train()
        xg = x.detach().requires_grad_(True)
        return lambda: torch.autograd.grad(block(xg), [xg, *params], dy)
    raise ValueError(f"block contexts time forward and forward_backward, not {pass_}")
