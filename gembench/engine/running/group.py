"""Measure a comparison group (runs inside a worker process): every case of one setting, their
baselines shared, timed together in one set of rounds.

build each case (its subject, first call, error; a case that cannot be built is skipped or
failed alone) -> one set of rounds over every callable of the group, each shared baseline once
(each backend's ReLU, the anchor ReLU, the copy ceiling), in a fresh random order each round,
until every case's per-round ratio to its baseline meets the precision target or the group's
budget is spent -> per case: its view of the rounds, post-timing recheck, memory, derived
figures, accuracy gate and anomaly flags.

Sample ``i`` of every case of the group comes from round ``i``, so any two cases of the group
have a direct per-round ratio (the record's ``timing.group_id`` says which cases share rounds).
"""

from __future__ import annotations

import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import gembench.engine.measuring.anomalies as anomalies
from gembench.engine.contexts.subject import CaseSkipped, Subject, SubjectArgs
from gembench.engine.measuring.busy import BusyMonitor, VisitBusy
from gembench.engine.measuring.timing import Interleaved, RoundPlan, cuda_graphed, interleaved
from gembench.engine.running.measure import (
    accuracy_gate,
    finish_timing,
    make_clock,
    profile_trace,
    ready_backend,
    trace_path,
)
from gembench.results.records import Error, Outcome
from gembench.spec.cases import Case
from gembench.spec.contexts import context_spec
from gembench.spec.policy import Timing

#: ``event(kind, **fields)``: what the group reports as it goes (built, round, outcome)
Events = Callable[..., None]


@dataclass
class Member:
    """One case of the group, once built."""

    case: Case
    timing: Timing
    subject: Subject
    first_call: float
    error: Error
    started: float
    names: dict[str, str] = field(default_factory=dict)


def _failure(exc: BaseException) -> Outcome:
    if isinstance(exc, CaseSkipped):
        return Outcome(status="skipped", reason=str(exc))
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    return Outcome(status="failed", reason=f"{type(exc).__name__}: {exc}".strip(),
                   where=f"{last.filename}:{last.lineno}" if last else None)


def _build(case: Case, timing: Timing, seed: int, memo: dict[Any, Any]) -> Member:
    t0 = time.perf_counter()
    be = ready_backend(case, reset=False)
    subject = context_spec(case.context).subject(SubjectArgs(be, case, timing, seed, memo))
    c0 = time.perf_counter()
    subject.main.run()
    be.synchronize(case.device)
    first_call = time.perf_counter() - c0
    member = Member(case, timing, subject, first_call, subject.error(), t0)
    member.names = subject.group_names()
    return member


def _group_timing(members: list[Member], callables: int) -> Timing:
    """The group's policy: the first case's, with the most samples any case asks for, and the
    budget that gives each of the group's ``callables`` the time it had if each case were
    timed alone with its baselines (a case's ``budget_s`` is for its own rounds: the case and
    its baselines): the sum of the cases' budgets, scaled by the group's callables over the
    sum of each case's. The baselines a group shares are timed once per round, not once per
    case, so a group spends less time for as many rounds."""
    first = members[0].timing
    own = sum(len(m.names) for m in members)
    budget = sum(m.timing.budget_s for m in members) * min(1.0, callables / own)
    return replace(first, min_samples=max(m.timing.min_samples for m in members),
                   budget_s=budget, retry_busy=max(m.timing.retry_busy for m in members))


def _pairs(members: list[Member]) -> tuple[tuple[str, str], ...]:
    """Each case's (callable, baseline) in the group's names: what the precision target
    judges."""
    out = []
    for m in members:
        base = next((b for b in ("relu", "anchor") if b in m.names), None)
        if base and m.names["case"] != m.names[base]:
            out.append((m.names["case"], m.names[base]))
    return tuple(dict.fromkeys(out))


class Marker:
    """Writes the callable being timed to a file, so that the runner can name the culprit of a
    crash or hang in the middle of the rounds."""

    def __init__(self, path: str | None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644) if path else None

    def __call__(self, name: str) -> None:
        if self.fd is not None:
            os.pwrite(self.fd, name.encode()[:480].ljust(512), 0)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def time_rounds(members: list[Member], marker: Marker, events: Events,
                seed: int) -> tuple[Interleaved, VisitBusy, str, Any]:
    """One set of rounds over every callable of the group, re-timed up to
    ``timing.retry_busy`` times while a case was busy and the load looked transient (a steady
    neighbour would be met again: its figures are withheld by the report instead)."""
    fns: dict[str, Callable[[], Any]] = {}
    for m in members:
        for name, fn in m.subject.timed().items():
            fns.setdefault(m.names[name], fn)
    timing = _group_timing(members, len(fns))
    note = ""
    if timing.cuda_graphs:
        if members[0].case.device.startswith("cuda"):
            fns, note = cuda_graphed(fns)
        else:
            note = "cuda_graphs ignored: not a CUDA device"
    clock = make_clock([m.subject.be for m in members], members[0].case)
    pairs = _pairs(members)
    retries = 0
    while True:
        visits = VisitBusy(timing.busy_threshold_cores, members[0].case.device)

        def before(name: str, visits: VisitBusy = visits) -> None:
            marker(name)
            visits.before(name)

        plan = RoundPlan(pairs=pairs, shuffle=seed + retries, on_visit=before,
                         after_visit=visits.after,
                         on_round=lambda r: events("round", round=r), budget_s=timing.budget_s)
        res = interleaved(fns, clock, timing, next(iter(fns)), None, plan)
        busy = any(BusyMonitor.is_busy(visits.judge(_visited(m))) for m in members)
        if not busy or retries >= timing.retry_busy or not visits.transient:
            break
        retries += 1
    res.retries = retries
    return res, visits, note, clock


def _visited(m: Member) -> set[str]:
    """The group names of a case's callables and its baselines."""
    return {m.names[n] for n in m.names if n.split("/")[0] in ("case", *m.subject.baselines())}


def finish(m: Member, res: Interleaved, visits: VisitBusy, note: str, group_id: str,
           n_callables: int, profile_dir: str | None, clock: Any) -> Outcome:
    """One case's outcome from its view of the group's rounds."""
    busy = visits.judge(_visited(m))
    busy.retries = res.retries
    view = res.view(m.names, busy)
    subject = m.subject
    rec = finish_timing(subject, view, clock, m.timing, note)
    rec.group_id, rec.group_callables, rec.order = group_id, n_callables, "shuffled"
    m.error.recheck = subject.recheck()
    out = Outcome(status="ok", timing=rec, memory=subject.memory(), error=m.error,
                  derived=subject.derived(rec, m.first_call), block=subject.block(view),
                  busy=busy, machine_busy=BusyMonitor.is_busy(busy),
                  backend_info=subject.kern.describe(), pass_note=subject.main.note or None)
    if profile_dir:
        out.trace = profile_trace(subject.main.run, trace_path(profile_dir, m.case),
                                  m.case.device)
    out = accuracy_gate(out, m.error)
    out.anomalies = anomalies.flags(m.case.activation, out) or None
    return out


def _reset_backends(cases: list[Case]) -> None:
    from gembench.backends import backend

    for name in dict.fromkeys(c.backend for c in cases):
        try:
            backend(name).reset()
        except Exception:  # an unknown or broken backend fails its cases at build, not here
            continue


def measure_group(cases: list[Case], timings: list[Timing], seed: int, events: Events,
                  profile_dir: str | None = None, marker_path: str | None = None) -> None:
    """Measure a comparison group; ``events("outcome", case_id=..., outcome=Outcome)`` once
    per case, failures and skips included."""
    memo: dict[Any, Any] = {}
    members: list[Member] = []
    marker = Marker(marker_path)
    _reset_backends(cases)
    for case, timing in zip(cases, timings):
        marker(f"build:{case.case_id}")
        t0 = time.perf_counter()
        try:
            members.append(_build(case, timing, seed, memo))
        except Exception as exc:  # one case that cannot be built never loses the others
            out = _failure(exc)
            out.duration_s = time.perf_counter() - t0
            events("outcome", case_id=case.case_id, outcome=out)
            continue
        events("built", case_id=case.case_id)
    if not members:
        marker.close()
        return
    try:
        res, visits, note, clock = time_rounds(members, marker, events, seed)
    except Exception as exc:  # the rounds themselves failed: every member fails with the reason
        for m in members:
            out = _failure(exc)
            out.duration_s = time.perf_counter() - m.started
            events("outcome", case_id=m.case.case_id, outcome=out)
        marker.close()
        return
    group_id = uuid.uuid4().hex[:12]
    for m in members:
        marker(f"finish:{m.case.case_id}")
        try:
            out = finish(m, res, visits, note, group_id, len(res.samples), profile_dir, clock)
        except Exception as exc:
            out = _failure(exc)
        out.duration_s = time.perf_counter() - m.started
        events("outcome", case_id=m.case.case_id, outcome=out)
    marker.close()


def measure_one(case: Case, timing: Timing, seed: int = 0,
                profile_dir: str | None = None) -> Outcome:
    """A group of one case (what tests and single-case tools call)."""
    got: list[Outcome] = []
    measure_group([case], [timing], seed,
                  lambda kind, **f: got.append(f["outcome"]) if kind == "outcome" else None,
                  profile_dir)
    return got[0]


__all__ = ["Marker", "measure_group", "measure_one"]
