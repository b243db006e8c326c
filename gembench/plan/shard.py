"""Comparison groups and shards: how a suite is split over many machines.

A *comparison group* is every case of one setting: everything in a case's identity except the
backend and the activation (with its parameters), i.e. context, dtype, device, shape, pass,
threads, allocator (and cache state, where cases have one). The cases of a group are compared
with one another (each times its same-backend ReLU, the anchor ReLU and the copy ceiling in its
own rounds; "x best ReLU on this device" needs the best ReLU of the same setting measured on the
same machine), so a group is the unit of work and is never split.

``shard(cases, i, n)`` gives shard ``i`` of ``n`` (1-based): groups are keyed by a hash of their
setting, so the partition does not depend on the order of the suite file, and assigned greedily,
costliest first, to the least loaded shard (longest-processing-time), so shards 1..n cover the
suite exactly once with balanced expected cost (:func:`case_cost`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gembench.spec.cases import Case

#: Case fields that vary *within* a comparison group; every other field names the setting.
WITHIN_GROUP = frozenset({"backend", "activation", "params", "preset"})

#: Relative cost of one call by pass (a backward reads two tensors and writes one; forward+backward
#: does both) and by context (a block's matrix products dwarf its activation).
PASS_WEIGHT = {"forward": 1.0, "backward": 2.0, "forward_backward": 3.0}
#: Fixed cost of a case (build, warm-up, the timing budget), in elements, and the extra cost of
#: a backend that compiles on its first call (from a smoke run: ~0.5 s a case, ~5 s compiled).
OVERHEAD_ELEMENTS = 1 << 20
COMPILE_ELEMENTS = 10 << 20


class ShardError(ValueError):
    """A shard specification is malformed; the message says what was expected and found."""


def setting(case: Case) -> dict[str, Any]:
    """The fields that identify a case's comparison group."""
    return {k: v for k, v in case.to_dict().items() if k not in WITHIN_GROUP}


def setting_key(case: Case) -> str:
    """A stable hash of :func:`setting` (independent of case order and Python's hash seed)."""
    text = json.dumps(setting(case), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def case_cost(case: Case) -> float:
    """Expected relative cost of one case: a fixed overhead, the traffic of its pass and
    context, and a compile if its backend compiles."""
    from gembench.backends import backend
    from gembench.spec.contexts import context_spec

    weight = context_spec(case.context).shard_weight
    work = PASS_WEIGHT.get(case.pass_, 1.0) * weight * case.numel
    return OVERHEAD_ELEMENTS + work + (COMPILE_ELEMENTS if backend(case.backend).compiles else 0)


@dataclass(frozen=True)
class Group:
    """One comparison group: its setting key and its cases in suite order."""

    key: str
    cases: tuple[Case, ...]

    @property
    def cost(self) -> float:
        return sum(case_cost(c) for c in self.cases)


def comparison_groups(cases: Iterable[Case]) -> list[Group]:
    """The comparison groups of ``cases``, ordered by setting key."""
    by_key: dict[str, list[Case]] = {}
    for c in cases:
        by_key.setdefault(setting_key(c), []).append(c)
    return [Group(k, tuple(v)) for k, v in sorted(by_key.items())]


def assign(groups: list[Group], n: int) -> list[list[Group]]:
    """Longest-processing-time assignment of ``groups`` to ``n`` bins (costliest first, each to
    the least loaded bin, ties to the lowest index); deterministic for a given set of groups."""
    bins: list[list[Group]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for g in sorted(groups, key=lambda g: (-g.cost, g.key)):
        i = min(range(n), key=lambda j: (loads[j], j))
        bins[i].append(g)
        loads[i] += g.cost
    return bins


#: the most shards a suite may be split into (a CI matrix is far smaller); shards beyond the
#: number of comparison groups are empty runs.
MAX_SHARDS = 10_000
_SPEC = re.compile(r"([0-9]{1,30})/([0-9]{1,30})")


def shard(cases: list[Case], i: int, n: int) -> list[Case]:
    """The cases of shard ``i`` of ``n`` (1-based), in their original order; empty when ``n``
    exceeds the number of comparison groups and this shard got none."""
    if not 1 <= i <= n <= MAX_SHARDS:
        raise ShardError(f"--shard: expected I/N with 1 <= I <= N <= {MAX_SHARDS}, found {i}/{n}")
    groups = comparison_groups(cases)
    if i > len(groups):
        return []
    mine = {c.case_id for g in assign(groups, min(n, len(groups)))[i - 1] for c in g.cases}
    return [c for c in cases if c.case_id in mine]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``: exactly ``I/N`` in ASCII digits with 1 <= I <= N <=
    :data:`MAX_SHARDS`; anything else (an empty string from an unset CI variable, signs,
    spaces) is a :class:`ShardError`."""
    m = _SPEC.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ShardError(f"--shard: expected I/N (e.g. 2/3), found {text!r}"[:200])
    i, n = int(m[1]), int(m[2])
    if not 1 <= i <= n <= MAX_SHARDS:
        raise ShardError(f"--shard: expected I/N with 1 <= I <= N <= {MAX_SHARDS}, found "
                         f"{text!r}")
    return i, n


__all__ = ["MAX_SHARDS", "Group", "ShardError", "assign", "comparison_groups", "parse_shard",
           "setting", "setting_key", "shard"]
