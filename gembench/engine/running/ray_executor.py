"""``run --executor ray``: comparison groups as Ray tasks, each on a whole machine.

A task reserves a whole device (CUDA: one GPU and the setting's threads worth of CPUs, of the
``accelerator_type`` asked for; CPU: every CPU of a node), so no two timings share a machine. It
runs in a Ray worker process started with the setting's environment (allocator, threads) from
``runtime_env`` (reused by later tasks of the same environment: it holds no measurement
state), and measures its cases exactly as the local executor does: in worker processes with
each backend's environment (Triton interpreter, fresh compile caches in a temporary directory on
the node), so a case that crashes, hangs or fails is a record, not a retry. Ray retries a task
only when its worker or node is lost (``max_retries``); a task that still fails records each of
its cases as failed with Ray's reason. Records come back per task as it finishes (a
``ray.wait`` loop) and are appended at once, each with the fingerprint and key of the machine
that measured it (:mod:`gembench.results.merge`) and the niceness it ran at. Groups of one
environment go in one task (:func:`batches`), so that gembench's worker processes start
once for several groups, as they do locally.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gembench.engine.running.executors import (
    Executor,
    ExecutorError,
    LocalExecutor,
    RunContext,
    case_record,
    now,
)
from gembench.plan.shard import Group, comparison_groups
from gembench.results.merge import fingerprint, machine_key
from gembench.spec.cases import Case
from gembench.spec.policy import Timing

_LOG_TAIL = 64 * 1024
_NICENESS = "RAY_worker_niceness"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray, which is not installed: "
                            "pip install 'gembench[ray]'") from None
    return ray


def measure_group(cases: list[dict[str, Any]], timings: list[dict[str, Any]],
                  seed: int) -> dict[str, Any]:
    """The body of a Ray task: measure one group (cases and their timing policies) on this node;
    return its records, the node's environment and the tail of its worker log."""
    from gembench.engine.measuring.environment import capture

    niceness = _unnice()
    todo = [Case.from_dict(c) for c in cases]
    policy = {c.case_id: Timing(**t) for c, t in zip(todo, timings)}
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gembench-ray-") as tmp:
        ctx = RunContext(lambda c: policy[c.case_id], seed, Path(tmp), records.append)
        LocalExecutor().run(todo, ctx)
        log = Path(tmp) / "worker.log"
        tail = log.read_bytes()[-_LOG_TAIL:].decode(errors="replace") if log.exists() else ""
    return {"records": records, "environment": {**capture(), "niceness": niceness}, "log": tail}


def _unnice() -> int:
    """Ray starts its workers at niceness 15 (``RAY_worker_niceness``): a timing must not yield
    the CPU to every other process. Back to 0 where allowed; the niceness the cases ran at."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    return os.getpriority(os.PRIO_PROCESS, 0)


class RayExecutor(Executor):
    """Comparison groups as Ray tasks on a cluster (``address``; default: the cluster named by
    ``RAY_ADDRESS``, one already running here, or a new local one)."""

    name = "ray"
    options = ("address", "accelerator_type", "retries")

    def __init__(self, address: str | None = None, accelerator_type: str | None = None,
                 retries: int = 3) -> None:
        self.ray = _ray()
        self.address = address
        self.accelerator_type = accelerator_type
        self.retries = retries
        self.started_here = False

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address,
                "accelerator_type": self.accelerator_type, "retries": self.retries}

    def _options(self, group: Group, node_cpus: int) -> dict[str, Any]:
        first = group.cases[0]
        opts: dict[str, Any] = {
            "max_retries": self.retries, "retry_exceptions": False,
            "runtime_env": {"env_vars": _setting_env(first)},
        }
        if first.device.startswith("cuda"):
            opts.update(num_gpus=1, num_cpus=max(1, first.threads))
            if self.accelerator_type:
                opts["accelerator_type"] = self.accelerator_type
        else:
            opts["num_cpus"] = node_cpus
        return opts

    def start(self, *, profile: bool = False) -> None:
        if profile:
            raise ExecutorError("--profile: traces are written by the local executor only")
        if self.ray.is_initialized():
            return
        # a cluster started here runs its workers at niceness 0 (Ray's default is 15)
        os.environ.setdefault(_NICENESS, "0")
        check_reachable(self.address or os.environ.get("RAY_ADDRESS"))
        try:
            self.ray.init(address=self.address, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ExecutorError(f"--address {self.address}: cannot join the Ray cluster: "
                                f"{first}") from None
        self.started_here = True

    def stop(self) -> None:
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False

    def run(self, cases: list[Case], ctx: RunContext) -> None:
        ray = self.ray
        nodes = [n for n in ray.nodes() if n["Alive"]]
        node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in nodes), default=1)
        # a Ray worker is reused by the next task of the same environment: it only starts
        # gembench's own worker processes, which isolate the cases as the local executor does
        task = ray.remote(max_calls=0)(measure_group)
        pending: dict[Any, list[Group]] = {}
        for batch in batches(list(comparison_groups(cases)), len(nodes)):
            todo = [c for g in batch for c in g.cases]
            ref = task.options(**self._options(batch[0], node_cpus)).remote(
                [c.to_dict() for c in todo], [asdict(ctx.timing_of(c)) for c in todo],
                ctx.seed)
            pending[ref] = batch
        machines: set[str] = set()
        log = ctx.out_dir / "worker.log"
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            batch = pending.pop(ready[0])
            started = now()
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                reason = (f"ray task failed after {self.retries + 1} attempt(s): "
                          f"{type(exc).__name__}: {why}")
                for case in (c for g in batch for c in g.cases):
                    ctx.emit(case_record(case, {"status": "failed", "reason": reason}, started))
                continue
            env = result["environment"]
            machine = fingerprint(env)
            key = machine_key(machine)
            if env["niceness"] and key not in machines:
                print(f"gembench: warning: cases on {env['hostname']} ran at niceness "
                      f"{env['niceness']}; start its Ray node with {_NICENESS}=0",
                      file=sys.stderr)
            machines.add(key)
            if result["log"]:
                with log.open("a", encoding="utf-8") as fh:
                    fh.write(result["log"])
            for rec in result["records"]:
                ctx.emit({**rec, "machine_key": key, "machine": machine,
                          "niceness": env["niceness"]})


#: most comparison groups in one task: a task starts gembench's worker processes (torch
#: imported, about 3 s) once for all its groups, as the local executor does; a lost task
#: re-measures at most this many groups
MAX_BATCH = 8


def batches(groups: list[Group], nodes: int) -> list[list[Group]]:
    """Groups that need the same worker environment (allocator, threads, device kind) as one
    task, at most :data:`MAX_BATCH` and small enough to give every node two tasks; in the order
    the groups come, environment by environment."""
    out: list[list[Group]] = []
    by_env: dict[tuple[Any, ...], list[Group]] = {}
    for g in groups:
        by_env.setdefault(_env_key(g), []).append(g)
    for run in by_env.values():
        size = max(1, min(MAX_BATCH, -(-len(run) // (2 * max(1, nodes)))))
        out += [run[i:i + size] for i in range(0, len(run), size)]
    return out


def _env_key(group: Group) -> tuple[Any, ...]:
    first = group.cases[0]
    return (tuple(sorted(_setting_env(first).items())), first.device.startswith("cuda"))


#: seconds to wait for a cluster's address to answer before the run is refused
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse at once (:class:`ExecutorError`, one line) a ``HOST:PORT`` address nothing
    answers on within ``timeout`` seconds; Ray itself would retry for minutes. ``auto``, ``local``,
    ``ray://`` addresses and None are left to Ray."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ExecutorError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379), "
                            "auto, or a ray:// address")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else (
            exc.strerror or str(exc))
        raise ExecutorError(f"--address {address}: cannot reach the Ray cluster ({why}); is "
                            "`ray start --head` running there?") from None


def _setting_env(case: Case) -> dict[str, str]:
    from gembench.engine.running.workers import setting_env

    return setting_env(case)


__all__ = ["MAX_BATCH", "RayExecutor", "batches", "check_reachable", "measure_group"]
