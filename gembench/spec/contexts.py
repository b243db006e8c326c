"""Measurement contexts, registered by name: what a context allows and how it is measured.

A context (``elementwise``, ``mlp_block``, ``conv_block``, ...) is one :class:`ContextSpec`
registered with :func:`register_context` in its own module; suites, the plan and the engine
look it up here instead of dispatching on its name. Registration must not import torch (suite
loading runs without it): the ``subject`` builder imports what it needs when called.

A new context is one ``register_context(ContextSpec(...))`` call in its own module, with a
:class:`gembench.engine.contexts.subject.Subject` subclass as its ``subject``; the module is
loaded by listing it in :data:`BUILTIN_MODULES` (or by importing it before the suite is read).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gembench.spec.cases import PASSES, Pass

#: modules that register the built-in contexts (imported on the first lookup).
BUILTIN_MODULES = ("gembench.engine.contexts.elementwise", "gembench.engine.contexts.blocks",
                   "gembench.engine.contexts.gated_block", "gembench.engine.contexts.model_context")


@dataclass(frozen=True)
class ContextSpec:
    """One measurement context.

    ``subject(args)`` builds the measurement subject for a case (see
    :class:`gembench.engine.contexts.subject.Subject`); ``presets`` names the shapes a suite may use
    and ``resolve(name, device)`` turns one into a shape; ``rank`` (and ``shape_help``) is
    the rank an explicit shape must have, None for any.
    """

    name: str
    subject: Callable[[Any], Any]
    passes: tuple[str, ...] = PASSES
    default_cache: tuple[str, ...] = ("hot",)
    presets: Sequence[str] = ()
    resolve: Callable[[str, str], tuple[int, ...]] = field(default=lambda n, d: ())
    rank: int | None = None
    shape_help: str = ""
    description: str = ""
    #: a preset's plain name in a sentence (the verdict's), e.g. "GPT-2 small MLP"
    titles: Mapping[str, str] = field(default_factory=dict)
    #: a case's cost relative to the activation alone on as many elements, for balancing
    #: ``--shard`` (a block's matrix products dwarf its activation)
    shard_weight: float = 1.0

    def allows(self, pass_: str) -> bool:
        return pass_ in self.passes

    @property
    def pass_kinds(self) -> tuple[Pass, ...]:
        return tuple(Pass(p) for p in self.passes)


_CONTEXTS: dict[str, ContextSpec] = {}
_loaded = False


def register_context(spec: ContextSpec) -> ContextSpec:
    """Add (or replace) a context; returns it."""
    _CONTEXTS[spec.name] = spec
    return spec


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in BUILTIN_MODULES:
            importlib.import_module(mod)


def context_spec(name: str) -> ContextSpec:
    """The registered context ``name`` (KeyError naming the known ones otherwise)."""
    _load_builtins()
    try:
        return _CONTEXTS[name]
    except KeyError:
        raise KeyError(f"unknown context {name!r}; expected one of "
                       f"{', '.join(context_names())}") from None


def context_names() -> list[str]:
    _load_builtins()
    return list(_CONTEXTS)


__all__ = ["ContextSpec", "context_names", "context_spec", "register_context"]
