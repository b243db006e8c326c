"""The backend protocol: what every backend module provides.

A :class:`Backend` says whether it can run here (and why not), which dtypes and devices it
supports, and builds a :class:`Kernel` for an activation, dtype and device. A kernel has a
``forward`` and a ``grads`` (backward) on the backend's native arrays. Passes (forward, backward,
forward+backward), timing and memory are the engine's business, never a backend's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from gembench.activations.catalog import Activation

if TYPE_CHECKING:
    from torch import nn

#: what a kernel keeps for its backward pass
SavedWhat = Literal["x", "y", "x_and_y", "none", "unknown"]
SAVED_WHAT: tuple[str, ...] = get_args(SavedWhat)


@dataclass(frozen=True)
class Availability:
    """Whether a backend (or one case of it) can run here; ``reason`` says why not."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


AVAILABLE = Availability(True)


@dataclass(frozen=True)
class Saved:
    """What a kernel saves for its backward pass, as declared by the kernel (by construction).

    ``what`` is one of :data:`SAVED_WHAT`; ``note`` says how the claim is known. Kernels that
    torch autograd differentiates are also *measured* by the engine; the declaration is what
    backends without autograd (NumPy, ONNX Runtime) can offer.
    """

    what: SavedWhat = "unknown"
    note: str = ""

    def __post_init__(self) -> None:
        if self.what not in SAVED_WHAT:
            raise ValueError(f"Saved.what must be one of {', '.join(SAVED_WHAT)}, "
                             f"found {self.what!r}")

    @property
    def input_only(self) -> bool:
        """Only the input x is kept (as many bytes as the input, aliasing it)."""
        return self.what == "x"

    def __str__(self) -> str:
        """The legacy prose form, e.g. ``"x (by construction: ...)"`` (read by old code)."""
        if self.what == "unknown":
            return ""
        return f"{self.what} ({self.note or 'declared'})"

    @classmethod
    def parse(cls, text: str) -> Saved:
        """Read the legacy prose form (``"x (note)"``, ``"x"``, ``""``)."""
        what, _, note = text.strip().partition(" ")
        if what not in SAVED_WHAT or not what:
            return cls("unknown", text.strip())
        return cls(what, note.strip().removeprefix("(").removesuffix(")"))  # type: ignore[arg-type]


class Kernel(ABC):
    """An activation built by a backend for one dtype and device."""

    #: forward(x, out=...) writes into a preallocated output without a temporary.
    supports_out: bool = False
    #: forward is differentiable by torch autograd (the engine may time backward through it).
    autograd: bool = False
    #: what the kernel saves for backward, when that is by construction rather than measurable.
    saves: Saved = Saved()
    #: largest |x| for which the kernel returns finite, accurate values (None: the whole dtype),
    #: with the reason when a kernel outside gembench's control is narrower.
    domain: float | None = None
    domain_note: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # adapter: a subclass written against the old contract sets ``saved_for_backward`` to
        # prose; read it into the typed ``saves`` (the string stays for old readers).
        super().__init_subclass__(**kwargs)
        legacy = cls.__dict__.get("saved_for_backward")
        if isinstance(legacy, str) and "saves" not in cls.__dict__:
            cls.saves = Saved.parse(legacy)

    def __init__(self, spec: Activation, dtype: str, device: str) -> None:
        self.spec = spec
        self.dtype = dtype
        self.device = device
        #: learnable parameters by name (torch-based kernels: ``nn.Parameter``s, so that a
        #: module wrapping the kernel registers them and autograd returns their gradients).
        self.params: dict[str, nn.Parameter] = {}

    @property
    def saved_for_backward(self) -> str:
        """Legacy prose form of :attr:`saves` (``"x (by construction: ...)"``)."""
        return str(self.saves)

    @abstractmethod
    def forward(self, x: Any, out: Any = None) -> Any:
        """Return f(x) (into ``out`` when given and :attr:`supports_out`)."""

    @abstractmethod
    def grads(self, x: Any, dy: Any) -> tuple[Any, dict[str, Any]]:
        """Return ``(dx, {param: grad})``: the input gradient and, for learnable activations,
        the parameter gradients (a full reduction over the tensor)."""

    def backward(self, x: Any, dy: Any) -> Any:
        """Return dx = dy * f'(x)."""
        return self.grads(x, dy)[0]

    def describe(self) -> dict[str, Any]:
        """Facts worth recording with each case (provider, graph nodes, block size, ...)."""
        return {}


class Backend(ABC):
    """One way of running activations (NumPy, eager torch, Triton, ...)."""

    name: str = ""
    summary: str = ""
    dtypes: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")
    devices: tuple[str, ...] = ("cpu",)
    #: the first call compiles: the engine records first-call minus steady-state time.
    compiles: bool = False

    def configure(self, threads: int | None = None) -> None:
        """Apply run-wide settings before :meth:`build` (e.g. a session's thread count)."""

    def reset(self) -> None:
        """Forget state left by earlier cases (the engine calls this before each case builds
        its kernels; e.g. dynamo's caches)."""

    def worker_env(self, device: str, run_dir: str) -> dict[str, str]:
        """Environment variables a worker process needs from its start for this backend
        (e.g. ``TRITON_INTERPRET=1``, a fresh compile cache under ``run_dir``)."""
        return {}

    def availability(self) -> Availability:
        """Whether the backend can run at all on this machine."""
        return AVAILABLE

    def unsupported(self, spec: Activation, dtype: str, device: str) -> str | None:
        """Why this backend cannot run this case, or None when it can."""
        avail = self.availability()
        if not avail:
            return avail.reason
        if dtype not in self.dtypes:
            return f"{self.name} does not support {dtype} (supports {', '.join(self.dtypes)})"
        if device not in self.devices:
            return f"{self.name} does not run on {device} (runs on {', '.join(self.devices)})"
        return self.device_unavailable(device)

    def device_unavailable(self, device: str) -> str | None:
        """Why ``device`` is missing on this machine, or None."""
        return None

    def timing_unsupported(self, device: str) -> str | None:
        """Why timings of this backend on ``device`` would mean nothing, or None."""
        return None

    @abstractmethod
    def build(self, spec: Activation, dtype: str, device: str) -> Kernel:
        """Build the activation for a dtype and device."""

    # ---- native arrays
    @abstractmethod
    def from_numpy(self, a: np.ndarray, dtype: str, device: str) -> Any:
        """Convert a NumPy array to a native array of ``dtype`` on ``device``."""

    @abstractmethod
    def to_numpy(self, a: Any) -> np.ndarray:
        """Convert a native array to a float64 NumPy array."""

    def empty_like(self, a: Any) -> Any:
        """An uninitialised native array like ``a`` (for preallocated outputs)."""
        raise NotImplementedError

    def synchronize(self, device: str) -> None:
        """Wait for queued work on ``device`` (no-op for synchronous backends)."""


class UnavailableBackend(Backend):
    """Stands in for a backend (or plugin) that could not be loaded here, with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.summary = "(unavailable)"
        self._reason = reason

    def availability(self) -> Availability:
        return Availability(False, self._reason)

    def build(self, spec: Activation, dtype: str, device: str) -> Kernel:
        raise RuntimeError(f"backend {self.name} is unavailable: {self._reason}")

    def from_numpy(self, a: np.ndarray, dtype: str, device: str) -> Any:
        raise RuntimeError(self._reason)

    def to_numpy(self, a: Any) -> np.ndarray:
        raise RuntimeError(self._reason)
