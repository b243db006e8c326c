"""History over several runs of one suite: each case's ratio to ReLU run after run, per
machine, ordered by run start (and so by commit), with the changes that pass ``compare``'s
test marked."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gembench.decide import compare_cases
from gembench.report.frames import case_row
from gembench.results import CaseRecord, RunRecord
from gembench.results.loading import Run


@dataclass
class Point:
    """One case in one run."""

    ratio: float
    low: float
    high: float
    mark: str = ""  # "slower" / "faster" by gembench.decide's rule against the previous run


@dataclass
class Machine:
    """The runs of one machine, oldest first, and each case's points over them."""

    name: str
    runs: list[str] = field(default_factory=list)
    cases: dict[str, list[Point | None]] = field(default_factory=dict)


def machine_of(run: RunRecord) -> str:
    """Host, CPU model and core count: runs are compared only within one machine."""
    env = run.environment or {}
    gpu = env.get("gpu") or {}
    parts = [str(env.get("hostname") or "?"), str((env.get("cpu") or {}).get("brand_raw")
                                                  or "?"), f"{env.get('logical_cores', '?')} cores"]
    if gpu.get("name"):
        parts.append(str(gpu["name"]))
    return ", ".join(parts)


def run_label(run: RunRecord) -> str:
    """``"3edbe59 2026-11-24 18:31"``: the commit and the start of a run."""
    git = (run.environment or {}).get("git") or {}
    commit = str(git.get("commit") or "unknown")[:7] + ("+" if git.get("dirty") else "")
    started = str(run.started or "?").replace("T", " ")[:16]
    return f"{commit} {started}"


def _ratio(c: CaseRecord) -> Point | None:
    r = case_row(c)
    if c.status != "ok" or not math.isfinite(r["ratio"]):
        return None
    return Point(r["ratio"], r["ratio_q1"], r["ratio_q3"])


def history(runs: list[Run]) -> list[Machine]:
    """Per machine, the runs of each suite seen at least twice on it; empty when no suite was
    run twice on one machine."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((machine_of(run.run), str(run.run.suite)), []).append(run)
    out = []
    for (machine, suite), rs in groups.items():
        if len(rs) < 2:
            continue
        rs = sorted(rs, key=lambda r: str(r.run.started or ""))
        m = Machine(f"{suite} on {machine}", [run_label(r.run) for r in rs])
        for i, (_, _, cases) in enumerate(rs):
            marks: dict[str, str] = {}
            if i:
                cmp = compare_cases(rs[i - 1][2], cases)
                marks = {c.case_id: "slower" for c in cmp.regressions}
                marks.update({c.case_id: "faster" for c in cmp.improvements})
            for c in cases:
                point = _ratio(c)
                if point is None:
                    continue
                point.mark = marks.get(c.case_id, "")
                m.cases.setdefault(c.case_id, [None] * len(rs))[i] = point
        m.cases = {k: v for k, v in m.cases.items() if sum(p is not None for p in v) >= 2}
        out.append(m)
    return out


__all__ = ["Machine", "Point", "history", "machine_of", "run_label"]
