"""Executors: how the runner's cases get measured (``run --executor NAME``).

The runner decides *what* to run (suite, filter, shard, resume) and writes every record; an
executor decides *where*: it measures the cases it is given and hands each finished case record
to ``ctx.emit`` as soon as it has it. ``local`` (the default) runs worker processes on this
machine; ``ray`` (:mod:`gembench.engine.running.ray_executor`) sends each comparison group to a Ray
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

from gembench.spec.cases import Case
from gembench.spec.policy import Timing

#: one line of the results file, as JSON (a run, case or end record)
JsonLine = dict[str, Any]


class ExecutorError(Exception):
    """The executor cannot run here (unknown name, missing extra, bad option): one line."""


@dataclass
class RunContext:
    """What an executor needs from the run: each case's timing policy, the seed, the run
    directory, where finished records go (``emit``) and what is being measured (``announce``)."""

    timing_of: Callable[[Case], Timing]
    seed: int
    out_dir: Path
    emit: Callable[[JsonLine], None]
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


def case_record(case: Case, body: JsonLine, started: str) -> JsonLine:
    """A case record: the case's identity, what the worker measured, when it started."""
    return {"kind": "case", **case.record_fields(), **body, "started": started}


def worker_groups(cases: list[Case], run_dir: Path) -> list[tuple[dict[str, str], list[Case]]]:
    """``cases`` as comparison groups (:func:`gembench.plan.shard.comparison_groups`), each
    with the one worker environment its backends need from process start (the variables each
    sets, merged); a group whose backends need conflicting values is split by environment."""
    from gembench.engine.running.workers import worker_env
    from gembench.plan.shard import comparison_groups

    out: list[tuple[dict[str, str], list[Case]]] = []
    timed = {c.case_id for c in cases if _timed_here(c)}
    envs = {c.case_id: worker_env(c, run_dir) for c in cases if c.case_id in timed}
    # after the backends were loaded: importing one may set variables here (inductor's cache
    # directory), which every worker inherits and no backend asked for
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for group in comparison_groups(cases):
        parts: list[tuple[dict[str, str], list[Case]]] = []  # (variables set, cases)
        idle = [c for c in group.cases if c.case_id not in timed]  # skipped: any worker
        for case in [c for c in group.cases if c.case_id in timed]:
            own = {k: v for k, v in envs[case.case_id].items() if base.get(k) != v}
            for merged, members in parts:
                if all(merged.get(k, v) == v for k, v in own.items()):
                    merged.update(own)
                    members.append(case)
                    break
            else:
                parts.append((own, [case]))
        if idle:
            if not parts:
                parts.append(({}, []))
            parts[0][1].extend(idle)
        out.extend(({**base, **own}, members) for own, members in parts)
    return out


def _timed_here(case: Case) -> bool:
    """Whether the case's backend can time on its device here (a case that cannot is skipped
    by its worker, so the environment its backend asks for must not split its group)."""
    from gembench.backends import backend

    try:
        return not backend(case.backend).timing_unsupported(case.device)
    except Exception:  # an unknown or broken backend is reported by its worker
        return True


def culprits(marker: str, todo: list[Case]) -> list[Case]:
    """The cases behind the callable a worker was running when it died (the marker file):
    the case it names; every case of a backend whose shared ReLU it names; else all of them."""
    name = marker.strip().split(":", 1)[1] if marker.startswith(("build:", "finish:")) \
        else marker.strip()
    base = name.split("/")[0]
    for case in todo:
        cid = case.case_id
        if name == cid or name.startswith((cid + ":", cid + "/")):
            return [case]
    if base.startswith("relu") and ":" in base:
        hit = [c for c in todo if c.backend == base.split(":", 1)[1]]
        if hit:
            return hit
    return list(todo)


def _read_marker(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace").strip()
    except OSError:
        return ""


def run_in_workers(group: list[Case], env: dict[str, str], ctx: RunContext,
                   worker: Any = None) -> Any:
    """Measure one comparison group in a worker process (``worker``, or a fresh one), its
    cases timed together. A case whose crash or hang kills the worker is recorded as failed
    and the rest of the group is measured again in a fresh worker; every case's outcome is
    emitted exactly once. Returns the worker, still running, for the next group."""
    from gembench.engine.running.workers import Worker

    todo, started = list(group), now()
    marker = ctx.out_dir / "worker.marker"
    while todo:
        if worker is None or not worker.alive:
            try:
                worker = Worker(env, ctx.out_dir / "worker.log")
            except RuntimeError as exc:
                for case in todo:
                    ctx.emit(case_record(case, {"status": "failed", "reason": str(exc)},
                                         started))
                return None
        marker.write_bytes(b"")
        done: set[str] = set()
        by_id = {c.case_id: c for c in todo}
        died = None
        for ev in worker.run_group(todo, [ctx.timing_of(c) for c in todo], ctx.seed,
                                   ctx.profile_dir, str(marker)):
            if ev.get("event") == "built" and ev.get("case_id") in by_id:
                ctx.announce(by_id[ev["case_id"]])
            elif ev.get("event") == "outcome" and ev.get("case_id") in by_id:
                done.add(ev["case_id"])
                ctx.emit(case_record(by_id[ev["case_id"]], ev["outcome"], started))
            elif ev.get("event") == "died":
                died = ev
        todo = [c for c in todo if c.case_id not in done]
        if died is not None and todo:
            where = _read_marker(marker)
            for case in culprits(where, todo):
                reason = f"{died['reason']} while running {where or 'its group'}"
                ctx.emit(case_record(case, {"status": "failed", "reason": reason}, started))
                todo.remove(case)
        elif todo:  # the worker answered "done" without some outcomes: never lose them
            for case in todo:
                ctx.emit(case_record(case, {"status": "failed",
                                            "reason": "the worker gave no outcome"}, started))
            todo = []
    marker.unlink(missing_ok=True)
    return worker


class LocalExecutor(Executor):
    """Worker processes on this machine, one comparison group after another (a worker is
    reused while the next group needs the same environment)."""

    name = "local"

    def run(self, cases: list[Case], ctx: RunContext) -> None:
        worker, env_now = None, None
        try:
            for env, group in worker_groups(cases, ctx.out_dir):
                if worker is not None and env != env_now:
                    worker.close()
                    worker = None
                worker, env_now = run_in_workers(group, env, ctx, worker), env
        finally:
            if worker is not None:
                worker.close()


#: executor name -> "module:Class", imported on first use (Ray is an optional extra).
EXECUTORS: dict[str, str] = {
    "local": "gembench.engine.running.executors:LocalExecutor",
    "ray": "gembench.engine.running.ray_executor:RayExecutor",
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
