"""Passes, built once for kernels and blocks alike: the callable that is timed for a
forward, backward or forward+backward of a differentiable function of ``x``.

A backend never handles passes: it supplies a forward (and, without autograd, its own
``grads``); this module makes the timed callable from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gembench.spec.cases import Pass


def _torch() -> Any:
    import torch

    return torch


class TimedPass:
    """The callable of one pass of ``forward(x)``; ``run`` is what is timed.

    ``params``: learnable tensors whose gradients the backward also computes (an activation's
    learnable parameters, a block's weights). ``grads(x, dy) -> (dx, {name: grad})`` is the
    backend's own backward when it has no autograd. ``train``, when given, is called with
    False before a forward pass and True before a pass with a backward (torch modules).

    When the backward cannot be repeated on one graph (``retain_graph`` refused), ``run`` is
    forward+backward and ``subtract`` the forward with autograd: the engine times both round
    by round and records their per-round difference, and ``note`` says so.
    """

    def __init__(self, forward: Callable[[Any], Any], pass_: Pass | str, x: Any, dy: Any, *,
                 autograd: bool = True, params: list[Any] | None = None,
                 grads: Callable[[Any, Any], Any] | None = None,
                 train: Callable[[bool], Any] | None = None) -> None:
        self.forward, self.pass_, self.x, self.dy = forward, Pass(pass_), x, dy
        self.autograd = autograd
        self.note = ""
        self.subtract: Callable[[], Any] | None = None
        if train is not None:
            train(self.pass_.has_backward)
        if not autograd:
            self.run = self._plain(grads)
            return
        torch = _torch()
        self.xg = x.detach().requires_grad_(True)
        self.inputs = [self.xg, *(params or [])]
        grad = torch.autograd.grad
        if self.pass_ is Pass.FORWARD:
            self.run = self._no_grad_forward
        elif self.pass_ is Pass.FORWARD_BACKWARD:
            self.run = lambda: grad(forward(self.xg), self.inputs, dy)
        else:
            self.y = forward(self.xg)
            self.run = lambda: grad(self.y, self.inputs, dy, retain_graph=True)
            try:
                self.run()
                self.run()
            except RuntimeError as exc:
                self.y = None
                self.run = lambda: grad(forward(self.xg), self.inputs, dy)
                self.subtract = lambda: forward(self.xg)
                first = str(exc).strip().splitlines()[0][:120]
                self.note = (f"backward cannot be repeated on one graph ({first}); timed as "
                             "forward+backward minus forward, per round")

    def _plain(self, grads: Callable[[Any, Any], Any] | None) -> Callable[[], Any]:
        fwd, x, dy = self.forward, self.x, self.dy
        if self.pass_ is Pass.FORWARD:
            return lambda: fwd(x)
        if grads is None:
            raise ValueError("a backward without autograd needs the backend's grads")
        if self.pass_ is Pass.FORWARD_BACKWARD:
            return lambda: (fwd(x), grads(x, dy))
        return lambda: grads(x, dy)

    def _no_grad_forward(self) -> Any:
        with _torch().no_grad():
            return self.forward(self.x)

    def outputs(self, result: Any) -> tuple[Any, Any]:
        """``(y, dx)`` in a result of ``run`` (None where the pass does not produce it)."""
        if self.pass_ is Pass.FORWARD:
            return result, None
        if self.autograd:
            return None, result[0]
        if self.pass_ is Pass.FORWARD_BACKWARD:
            return result[0], result[1][0]
        return None, result[0]


__all__ = ["TimedPass"]
