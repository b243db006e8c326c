"""Executors: how the runner's cases get measured (``run --executor NAME``).

The runner decides *what* to run (suite, filter, shard, resume) and writes every record; an
executor decides *where*: it measures the cases it is given and hands each finished case record
to ``ctx.emit`` as soon as it has it. ``local`` (the default) runs worker processes on this
machine; ``ray`` (:mod:`gembench.engine.ray_executor`) sends each comparison group to a Ray
cluster. More executors register in :data:`EXECUTORS` as ``"module:Class"``.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from gembench.engine.policy import Timing
from gembench.plan.cases import Case

Record = dict[str, Any]


class ExecutorError(Exception):
    """The executor cannot run here (unknown name, missing extra, bad option): one line."""


@dataclass
class RunContext:
    """What an executor needs from the run: each case's timing policy, the seed, the run
    directory, where finished records go (``emit``) and what is being measured (``announce``)."""

    timing_of: Callable[[Case], Timing]
    seed: int
    out_dir: Path
    emit: Callable[[Record], None]
    announce: Callable[[Case], None] = field(default=lambda case: None)
    profile_dir: str | None = None


class Executor(ABC):
    """Measures cases and emits one record per case, in any order."""

    name: ClassVar[str]
    #: the options (CLI flags) this executor takes
    options: ClassVar[tuple[str, ...]] = ()

    def start(self, *, profile: bool = False) -> None:
        """Get ready (connect, check options) before the run writes anything; refusals are
        :class:`ExecutorError`."""

    @abstractmethod
    def run(self, cases: list[Case], ctx: RunContext) -> None:
        """Measure every case of ``cases``; call ``ctx.emit`` once per case."""

    def stop(self) -> None:
        """Release what :meth:`start` took."""

    def describe(self) -> dict[str, Any]:
        """What the run record says about this executor."""
        return {"name": self.name}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def case_record(case: Case, body: Record, started: str) -> Record:
    """A case record: the case's identity, what the worker measured, when it started."""
    return {"kind": "case", **case.record_fields(), **body, "started": started}


def env_groups(cases: list[Case], run_dir: Path) -> list[list[Case]]:
    """``cases`` grouped by the environment their worker process needs from its start."""
    from gembench.engine.runner import worker_env

    groups: dict[tuple[tuple[str, str], ...], list[Case]] = {}
    for c in cases:
        env = worker_env(c, run_dir)
        key = tuple(sorted((k, v) for k, v in env.items() if os.environ.get(k) != v))
        groups.setdefault(key, []).append(c)
    return list(groups.values())


def run_in_workers(group: list[Case], ctx: RunContext) -> None:
    """Measure ``group`` (one worker environment) in a worker process, starting a fresh one
    after a crash or hang; every case's outcome is emitted, failures included."""
    from gembench.engine.runner import Worker, worker_env

    worker: Worker | None = None
    env = worker_env(group[0], ctx.out_dir)
    try:
        for case in group:
            ctx.announce(case)
            started = now()
            if worker is None or not worker.alive:
                try:
                    worker = Worker(env, ctx.out_dir / "worker.log")
                except RuntimeError as exc:
                    worker = None
                    ctx.emit(case_record(case, {"status": "failed", "reason": str(exc)},
                                         started))
                    continue
            body = worker.run(case, ctx.timing_of(case), ctx.seed, ctx.profile_dir)
            ctx.emit(case_record(case, body, started))
    finally:
        if worker is not None:
            worker.close()


class LocalExecutor(Executor):
    """Worker processes on this machine, one environment group after another."""

    name = "local"

    def run(self, cases: list[Case], ctx: RunContext) -> None:
        for group in env_groups(cases, ctx.out_dir):
            run_in_workers(group, ctx)


#: executor name -> "module:Class", imported on first use (Ray is an optional extra).
EXECUTORS: dict[str, str] = {
    "local": "gembench.engine.executors:LocalExecutor",
    "ray": "gembench.engine.ray_executor:RayExecutor",
}


def executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built with ``options`` (those left as None are
    dropped, so each executor keeps its own defaults)."""
    if name not in EXECUTORS:
        raise ExecutorError(f"--executor: unknown executor {name!r}; expected one of "
                            f"{', '.join(EXECUTORS)}")
    module, cls = EXECUTORS[name].split(":")
    kind: type[Executor] = getattr(importlib.import_module(module), cls)
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in kind.options:
            raise ExecutorError(f"--{key.replace('_', '-')}: not an option of --executor "
                                f"{name} (it takes: {', '.join(kind.options) or 'none'})")
    return kind(**given)


__all__ = ["EXECUTORS", "Executor", "ExecutorError", "LocalExecutor", "RunContext", "executor"]
