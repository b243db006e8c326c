"""The runner: suite -> cases -> worker processes -> results file (-> report).

Each comparison group (the cases of one setting) is measured by one worker process, its cases
timed together; a crash, hang or out-of-memory in one case is recorded as that case's failure
and the rest of its group is measured again in a fresh worker.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gembench.engine.measuring.environment import allocator_environment, capture
from gembench.plan.suite import Suite
from gembench.results.store import RESULTS_NAME, SCHEMA_VERSION, scan
from gembench.results.writer import ResultsWriter, RunLock, check_resumable, mark_complete
from gembench.spec.cases import Case
from gembench.spec.policy import Timing
from gembench.version import __version__

if TYPE_CHECKING:
    from gembench.engine.running.executors import Executor



class RunError(Exception):
    """The run cannot proceed (e.g. ``--resume`` on a results file of another suite)."""


def matches(case: Case, expr: str | None) -> bool:
    """``--filter``: comma-separated terms, all must hold. ``key=glob`` matches a case field
    (backend, activation, label, dtype, device, pass, shape, threads, allocator, context),
    ``key=glob|glob`` either; a bare term is a glob (or substring) of the case id."""
    if not expr:
        return True
    fields = {k: str(v) for k, v in case.record_fields().items()}
    fields["shape"] = "x".join(map(str, case.shape))
    for term in (t.strip() for t in expr.split(",")):
        if not term:
            continue
        if "=" in term:
            key, pat = term.split("=", 1)
            if key.strip() not in fields:
                raise RunError(f"--filter: unknown field {key.strip()!r}; expected one of "
                               f"{', '.join(sorted(fields))}")
            if not any(fnmatch.fnmatchcase(fields[key.strip()], alt.strip())
                       for alt in pat.split("|")):
                return False
        elif not (term in case.case_id or fnmatch.fnmatchcase(case.case_id, term)):
            return False
    return True


def finished_cases(path: Path) -> set[str]:
    """Case ids with a valid record in a results file (malformed records do not count)."""
    return {case_id for _machine, case_id in scan(path).cases}


def run_suite(suite: Suite, out_dir: Path, *, resume: bool = False, filter_expr: str | None = None,
              progress: bool = True, allocator: str | None = None,
              profile: bool = False, shard: tuple[int, int] | None = None,
              executor: Executor | None = None) -> Path:
    """Run every case of ``suite`` (matching ``filter_expr``; of shard ``(i, n)``) on
    ``executor`` (default: local worker processes); return the results file.

    Holds a lock on ``out_dir`` while it writes; everything that can be refused (no case
    matches, the directory is in use, ``--resume`` into a file it cannot continue, an executor
    that cannot start) is refused with :class:`RunError`, :class:`ResultsError` or
    :class:`ExecutorError` before anything is written.
    """
    from gembench.engine.running.executors import LocalExecutor, RunContext

    executor = executor or LocalExecutor()
    out_dir = Path(out_dir)
    results = out_dir / RESULTS_NAME
    plan = _plan(suite, filter_expr, allocator, shard)
    timings = {c.case_id: t for c, t in plan}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out_dir}: cannot create the output directory: "
                       f"{exc.strerror or exc}") from None
    with RunLock(out_dir):
        done = _resume_point(results, suite, resume)
        executor.start(profile=profile)
        try:
            writer = ResultsWriter(results)
            if writer.repaired:
                print(f"gembench: {results}: cut off a torn last line ({writer.repaired} bytes) "
                      "left by an interrupted write", file=sys.stderr)
            if done is None:
                extra = {"executor": executor.describe()}
                if shard:
                    extra["shard"] = f"{shard[0]}/{shard[1]}"
                writer.append({**run_record(suite, {c.allocator for c, _ in plan}), **extra})
            todo = [c for c, _ in plan if c.case_id not in (done or set())]
            bar = _progress(len(plan), len(plan) - len(todo), progress)

            def emit(record: dict[str, Any]) -> None:
                if record.get("kind") == "case":
                    timing = timings.get(record["case_id"], suite.timing)
                    if timing != suite.timing:
                        record = {**record, "timing_policy": asdict(timing)}
                writer.append(record)
                if record.get("kind") == "case":
                    bar.update(1)

            ctx = RunContext(lambda case: timings[case.case_id], suite.seed, out_dir, emit,
                             lambda case: bar.set_postfix_str(_short(case)),
                             str((out_dir / "traces").resolve()) if profile else None)
            try:
                executor.run(todo, ctx)
            finally:
                bar.close()
            mark_complete(results)  # every case is recorded: the file says it is complete
        finally:
            executor.stop()
    return results


def _plan(suite: Suite, filter_expr: str | None, allocator: str | None,
          shard: tuple[int, int] | None) -> list[tuple[Case, Timing]]:
    """The cases to run with their timing policies: filtered, re-allocated, sharded."""
    from gembench.plan.shard import shard as shard_cases

    plan = [(c, suite.timing_of(c)) for c in suite.cases if matches(c, filter_expr)]
    if not plan:
        what = f"--filter {filter_expr!r} matches none of the" if filter_expr else "no case among"
        raise RunError(f"{what} {len(suite.cases)} cases of {suite.path or suite.name}; "
                       "nothing to run")
    if allocator:
        plan = list({replace(c, allocator=allocator): t for c, t in plan}.items())
    if shard:  # an empty shard (more shards than comparison groups) is a run of no case
        mine = {c.case_id for c in shard_cases([c for c, _ in plan], *shard)}
        plan = [(c, t) for c, t in plan if c.case_id in mine]
    return plan


def _short(case: Case) -> str:
    """The progress bar's note on the case being measured."""
    return f"{case.backend} {case.label} {case.dtype} {case.pass_}"[:60]


def _resume_point(results: Path, suite: Suite, resume: bool) -> set[str] | None:
    """Finished case ids when continuing ``results``; None for a fresh file. Refuses a file
    it must not append to before anything is written."""
    fresh = not results.is_symlink() and (not results.exists() or (
        results.is_file() and results.stat().st_size == 0))
    if fresh:
        return None
    if not resume:
        raise RunError(f"{results} exists; pass --resume to continue it or choose another "
                       "--out")
    head = check_resumable(results)
    if head.get("suite_sha256") != suite_hash(suite):
        raise RunError(f"{results} was written by a different suite file; refusing to "
                       "resume into it")
    return finished_cases(results)


def suite_hash(suite: Suite) -> str | None:
    from gembench.engine.measuring.environment import file_sha256

    return file_sha256(suite.path) if suite.path else None


def run_record(suite: Suite, allocators: set[str] | None = None) -> dict[str, Any]:
    return {
        "kind": "run",
        "schema": SCHEMA_VERSION,
        "gembench": __version__,
        "started": _now(),
        "suite": suite.name,
        "suite_path": str(suite.path) if suite.path else None,
        "suite_sha256": suite_hash(suite),
        "description": suite.description,
        "timing_policy": asdict(suite.timing),
        "seed": suite.seed,
        "likeness": suite.likeness or None,
        "allocator_env": allocator_environment(sorted(allocators or ())),
        "environment": capture(suite.path),
        "end_mark": True,  # this file ends with an end mark once every case is recorded
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="case",
                dynamic_ncols=True, file=sys.stderr)


__all__ = ["RunError", "matches", "run_suite"]
