"""Markdown sections on the run rather than the figures: environment, failed and skipped cases,
facts the backends recorded, profiler traces."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from gembench.report.fmt import fmt_bytes, fmt_time, md_table, shape_text, summarize_values
from gembench.report.frames import num
from gembench.results import CaseRecord, RunRecord
from gembench.results.loading import Run


def allocator_text(run: RunRecord, cases: list[CaseRecord]) -> str:
    """The allocator settings of the cases: the environment the run recorded for each allocator
    setting, or, for runs that did not record it, this gembench's settings (said so)."""
    recorded = run.allocator_env
    allocs = sorted({c.allocator for c in cases if c.allocator})
    if isinstance(recorded, dict):
        def show(a: str) -> str:
            vals = recorded.get(a) or {}
            set_vals = {k: v for k, v in vals.items() if v is not None}
            return a + (" (" + ", ".join(f"{k}={v}" for k, v in set_vals.items()) + ")"
                        if set_vals else " (glibc defaults)")
        return "; ".join(show(a) for a in allocs) or "–"
    from gembench.engine.measuring.environment import ALLOCATOR_SETTINGS

    text = "; ".join(
        a + (" (" + ", ".join(f"{k}={v}" for k, v in ALLOCATOR_SETTINGS.get(a, {}).items())
             + ")" if ALLOCATOR_SETTINGS.get(a) else " (glibc defaults)") for a in allocs)
    return (text + " — not recorded by this run: this gembench's settings") if text else "–"


def _gpu_text(gpu: dict[str, Any] | None) -> str:
    if gpu and not gpu.get("error"):
        return (f"{gpu.get('name')} ×{gpu.get('count', 1)}, {fmt_bytes(gpu.get('memory_bytes'))}"
                f", CUDA {gpu.get('cuda')}, driver {gpu.get('driver') or '?'}")
    return f"unknown ({gpu.get('error')})" if gpu else "none"


def run_facts(path: Path, run: RunRecord, cases: list[CaseRecord]) -> dict[str, str]:
    """The environment of one run, as label -> text."""
    env = run.environment or {}
    pk = env.get("packages") or {}
    git = env.get("git") or {}
    suite_env = env.get("suite") or {}
    counts = Counter(c.status for c in cases)
    policy = run.timing_policy or {}
    commit = git.get("commit") or "unknown"
    if git.get("dirty"):
        commit += " (uncommitted changes)"
    runner_alloc = env.get("allocator_env_of_runner") or {}
    return {
        "results file": str(path),
        "suite": str(run.suite or "?"),
        "suite file": str(run.suite_path or suite_env.get("path") or "–"),
        "suite sha256": str(run.suite_sha256 or suite_env.get("sha256") or "–"),
        "description": str(run.description or "–"),
        "started": str(run.started or "?"),
        "results schema": str(run.schema) + (f" (migrated from {run.migrated_from})"
                                             if run.migrated_from else ""),
        "cases": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none",
        "CPU": str((env.get("cpu") or {}).get("brand_raw") or (env.get("cpu") or {}).get(
            "error") or "?"),
        "cores (logical / usable)": f"{env.get('logical_cores', '?')} / "
                                    f"{env.get('usable_cores', '?')}",
        "OS": str(env.get("os") or "?"),
        "Python": str(env.get("python") or "?"),
        **{name: str(pk.get(name) or "–") for name in ("torch", "numpy", "onnxruntime",
                                                       "triton")},
        "GPU": _gpu_text(env.get("gpu")),
        "git commit": commit,
        "gembench": str(run.gembench or "?"),
        "allocator of the cases": allocator_text(run, cases),
        "allocator env of the runner": ", ".join(
            f"{k}={v if v is not None else 'unset'}" for k, v in runner_alloc.items()) or "–",
        "timing policy": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in policy.items()) or "–",
        "seed": str(run.seed),
    }


def environment_section(runs: list[Run]) -> list[str]:
    """One column per run."""
    per_run = [run_facts(*r) for r in runs]
    rows = [[k, *(f[k] for f in per_run)] for k in per_run[0]]
    headers = ["", *(f"run {i + 1}" if len(runs) > 1 else "value" for i in range(len(runs)))]
    return ["## Environment", "", md_table(rows, headers), "", *machines_section(runs)]


def machines_section(runs: list[Run]) -> list[str]:
    """The machines of a merged or Ray file, when there is more than one (the ``machine``
    column of every table names them by key; their timings are never compared)."""
    from gembench.results.merge import machine_label

    labels: dict[str, str] = {}
    for _, _, cases in runs:
        for c in cases:
            if c.machine_key:
                labels.setdefault(c.machine_key, machine_label(c.machine) if c.machine else "?")
    if len(labels) < 2:
        return []
    rows = [[k, v] for k, v in sorted(labels.items())]
    return ["### Machines", "", f"{len(labels)} machines; tables show each case's machine key, "
            "and no ratio pairs two machines.", "", md_table(rows, ["machine", "fingerprint"]),
            ""]


def problem_section(cases: list[CaseRecord]) -> list[str]:
    """Failed cases one by one, skipped ones grouped by backend and reason."""
    failed = [c for c in cases if c.status == "failed"]
    skipped = [c for c in cases if c.status == "skipped"]
    head = ["## Failed and skipped cases", ""]
    if not cases:
        return [*head, "No cases in these results.", ""]
    if not failed and not skipped:
        return [*head, "None: every case ran.", ""]
    rows = [["failed", c.backend, c.label, c.dtype, shape_text(c.shape), c.pass_, "1",
             c.reason or "(no reason recorded)"] for c in sorted(failed, key=lambda c: c.case_id)]
    groups: dict[tuple[Any, ...], list[CaseRecord]] = {}
    for c in skipped:
        groups.setdefault((c.backend, c.reason), []).append(c)
    for (be, reason), cs in sorted(groups.items(), key=lambda kv: (str(kv[0][0]),
                                                                    str(kv[0][1]))):
        rows.append(["skipped", be, summarize_values((c.label for c in cs), "activations"),
                     summarize_values((c.dtype for c in cs), "dtypes"),
                     summarize_values((shape_text(c.shape) for c in cs), "shapes"),
                     summarize_values((c.pass_ for c in cs), "passes"), str(len(cs)),
                     reason or "(no reason recorded)"])
    headers = ["status", "backend", "activation", "dtype", "shape", "pass", "cases", "reason"]
    return [*head, f"{len(failed)} failed (one row each), {len(skipped)} skipped (grouped by "
            "backend and reason).", "", md_table(rows, headers), ""]


def _fmt_counts(v: Any) -> str:
    """Op counts as ``"Mul×3, Div"``; lists as comma-separated; other values as JSON."""
    if isinstance(v, dict):
        if all(isinstance(x, (int, float)) for x in v.values()):
            return ", ".join(f"{k}×{n}" if n != 1 else str(k) for k, n in sorted(v.items())) \
                or "none"
        return "; ".join(f"{k}: {_fmt_counts(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) or "none"
    return json.dumps(v) if not isinstance(v, str) else v


_OP_KEYS = ("nodes_optimized", "transcendental_ops")


def graph_facts(cases: list[CaseRecord]) -> list[str]:
    """Graph op counts and transcendental ops, where backends record them (ONNX Runtime)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in cases:
        info = c.backend_info
        if c.status != "ok" or not isinstance(info, dict):
            continue
        if not any(k in info for k in _OP_KEYS):
            continue
        seen.setdefault((c.backend, c.label, c.dtype, c.activation), info)
    if not seen:
        return []
    graphs: list[str] = []
    for info in seen.values():
        for k in _OP_KEYS:
            if isinstance(info.get(k), dict):
                graphs += [g for g in info[k] if g not in graphs]
    rows = []
    for (be, label, dt, _act), info in sorted(seen.items(), key=lambda kv: (
            str(kv[0][0]), kv[0][3] != "relu", str(kv[0][1]), str(kv[0][2]))):
        row = [be, label, dt]
        for k in _OP_KEYS:
            v = info.get(k)
            if isinstance(v, dict) and graphs:
                row += [_fmt_counts(v[g]) if g in v else "–" for g in graphs]
            else:
                row += [_fmt_counts(v) if v is not None else "–"] + ["–"] * (
                    max(len(graphs), 1) - 1)
        rows.append(row)
    gnames = graphs or ["all"]
    headers = ["backend", "activation", "dtype", *(f"ops after optimisation: {g}" for g in gnames),
               *(f"transcendental ops: {g}" for g in gnames)]
    return ["### Graph operators", "", "Operators in each graph after the backend's own "
            "optimisation, and the transcendental (non-rational) ones among them: a "
            "transcendental-free activation should list none.", "", md_table(rows, headers), ""]


def backend_facts(cases: list[CaseRecord]) -> list[str]:
    """Facts constant across a backend's cases (compile mode, provider, ...) and compile time."""
    skip = {*_OP_KEYS, "nodes_built", "unclassified_ops"}
    per_be: dict[str, list[CaseRecord]] = {}
    for c in cases:
        if c.status == "ok":
            per_be.setdefault(c.backend, []).append(c)
    rows = []
    for be, cs in sorted(per_be.items()):
        infos = [c.backend_info or {} for c in cs]
        keys = sorted(set().union(*(i.keys() for i in infos)) - skip)
        const = [f"{k}={infos[0][k]}" for k in keys
                 if all(k in i for i in infos)
                 and len({json.dumps(i.get(k), sort_keys=True) for i in infos}) == 1
                 and not isinstance(infos[0][k], (dict, list))]
        compile_t = [num(c.derived and c.derived.compile_time) for c in cs]
        compile_t = [t for t in compile_t if np.isfinite(t)]
        comp = (f"{fmt_time(float(np.median(compile_t)))} median, "
                f"{fmt_time(max(compile_t))} max" if compile_t else "–")
        if const or compile_t:
            rows.append([be, str(len(cs)), comp, ", ".join(const) or "–"])
    if not rows:
        return []
    return ["### Backend settings", "", "Facts each backend recorded that are the same for all "
            "its cases, and compile time (first call minus steady-state median).", "",
            md_table(rows, ["backend", "cases", "compile time", "facts"]), ""]


def trace_section(cases: list[CaseRecord], report_dir: Path) -> list[str]:
    """Links to the torch.profiler Chrome traces of a ``--profile`` run."""
    rows = []
    for c in cases:
        trace = c.trace
        if not trace:
            continue
        try:
            link = os.path.relpath(trace, report_dir.resolve())
        except ValueError:  # another drive
            link = trace
        rows.append([c.context, c.backend, c.label, c.dtype, shape_text(c.shape), c.pass_,
                     f"[trace]({link})"])
    if not rows:
        return []
    return ["## Profiles", "", "torch.profiler Chrome traces (open in Perfetto or "
            "chrome://tracing):", "",
            md_table(rows, ["context", "backend", "activation", "dtype", "shape", "pass",
                            "trace"]), ""]


__all__ = ["Run", "allocator_text", "backend_facts", "environment_section", "graph_facts",
           "problem_section", "run_facts", "trace_section"]
