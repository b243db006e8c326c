# ruff: noqa: RUF009  (``doc(...)`` returns a dataclasses.field carrying the field's doc)
"""A case: one measurement the runner makes (activation x backend x dtype x shape x pass ...)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from gembench.activations.catalog import Activation, activation
from gembench.spec.fields import REQUIRED, doc


class Pass(str, Enum):
    """What is timed: the forward, the backward alone, or both (for kernels and blocks)."""

    FORWARD = "forward"
    BACKWARD = "backward"
    FORWARD_BACKWARD = "forward_backward"

    @property
    def has_forward(self) -> bool:
        return self is not Pass.BACKWARD

    @property
    def has_backward(self) -> bool:
        return self is not Pass.FORWARD


PASSES = tuple(p.value for p in Pass)

#: cache states: ``hot`` repeats the same call (steady state); ``cold`` flushes the caches
#: before every call.
CACHE_STATES = ("hot", "cold")


@dataclass(frozen=True, kw_only=True)
class Case:
    """Everything that identifies one measurement; plain data, sent to worker processes. Its
    documented fields are also the identity of a results record
    (:class:`gembench.results.records.CaseIdentity` is generated from them)."""

    context: str = doc("`elementwise`, `mlp_block`, `conv_block`, ...", "elementwise")
    backend: str = doc("backend name", REQUIRED)
    activation: str = doc("activation name", REQUIRED)
    params: dict[str, Any] = doc("activation parameters", factory=dict)
    dtype: str = doc("`float32`, `float64`, `float16`, `bfloat16`", "float32")
    device: str = doc("`cpu` or `cuda`", "cpu")
    shape: tuple[int, ...] = doc("input shape (block contexts: the block's shape)", (1024,),
                                 minimum=0)
    pass_: str = doc("`forward`, `backward`, `forward_backward`", "forward", key="pass")
    threads: int = doc("CPU threads", 1, minimum=1)
    allocator: str = doc("`default` or `caching` (glibc settings at worker start)", "default")
    cache: str = doc("`hot`: the same call repeated; `cold`: caches flushed before every call; "
                     "`mixed`: v1 files (a copy ran between samples)", "hot")
    preset: str = doc("the named shape the case came from, if any (e.g. gpt2_small_mlp)", "")

    @property
    def spec(self) -> Activation:
        return activation(self.activation, **self.params)

    @property
    def pass_kind(self) -> Pass:
        return Pass(self.pass_)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def case_id(self) -> str:
        shape = "x".join(map(str, self.shape))
        return "/".join([self.context, self.backend, self.label, self.dtype, self.device, shape,
                         self.pass_, f"t{self.threads}", self.allocator, self.cache])

    def baseline(self) -> Case:
        """The ReLU case this one is compared with (same everything else)."""
        return replace(self, activation="relu", params={})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        return cls(**d)

    def record_fields(self) -> dict[str, Any]:
        """The identifying fields as they appear in a results record."""
        d = {f.metadata.get("key") or f.name: getattr(self, f.name) for f in fields(self)}
        d["shape"] = list(self.shape)
        return {"case_id": self.case_id, "label": self.label, "numel": self.numel, **d}

    def __hash__(self) -> int:
        return hash(self.case_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Case) and other.case_id == self.case_id

    def __repr__(self) -> str:
        return f"Case({self.case_id})"
