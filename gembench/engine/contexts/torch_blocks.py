"""The torch modules of the block contexts (a transformer MLP, a ResNet basic block), with the
activation supplied by the chosen backend's kernel."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gembench.backends.base import Kernel
from gembench.backends.torch_common import TORCH_DTYPES


class KernelActivation(nn.Module):
    """An ``nn.Module`` whose forward is a backend kernel's (autograd-capable) forward.

    The kernel's learnable parameters (``kern.params``) become this module's parameters, so a
    block's backward computes their gradients (dL/ds of the learnable λ-GELU). A plain tensor
    that requires grad is wrapped into an ``nn.Parameter`` sharing its storage and put back
    into ``kern.params``, so the kernel computes with the module's parameter.
    """

    def __init__(self, kern: Kernel) -> None:
        super().__init__()
        self.kern = kern
        params = getattr(kern, "params", None) or {}
        for name in list(params):
            p = params[name]
            if not isinstance(p, torch.Tensor) or not p.requires_grad:
                continue
            if not isinstance(p, nn.Parameter):
                p = nn.Parameter(p.detach())
                params[name] = p
            self.register_parameter(name, p)

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


#: module name -> builder from (shape, activation module): MLP shape (tokens, d, d_ff),
#: conv shape (batch, C, H, W).
MODULES: dict[str, Callable[[tuple[int, ...], nn.Module], nn.Module]] = {
    "mlp": lambda shape, act: MLPBlock(shape[1], shape[2], act),
    "conv": lambda shape, act: BasicBlock(shape[1], act),
}


def build_block(module: str, shape: tuple[int, ...], kern: Kernel, dtype: str, device: str,
                seed: int = 0) -> nn.Module:
    """The block ``module`` of a case's shape with ``kern`` as its activation."""
    torch.manual_seed(seed)  # the same weights for the case and its ReLU baseline
    block = MODULES[module](shape, KernelActivation(kern))
    for child in block.children():  # the kernel keeps its parameters' device and dtype
        if not isinstance(child, KernelActivation):
            child.to(device=device, dtype=TORCH_DTYPES[dtype])
    return block
