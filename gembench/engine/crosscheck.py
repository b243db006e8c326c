"""Cross-check gembench's hot timings against torch.utils.benchmark, case by case.

``python -m gembench crosscheck [RESULTS]`` re-times every ok hot case of a results file (or,
without one, a built-in small suite: every available backend, ReLU/GELU/GEM/SE-GEM, forward and
forward+backward, 64K and 1M float32, measured by gembench first) with
``torch.utils.benchmark.Timer.blocked_autorange`` in a fresh process per case, started with the
environment gembench's own worker would have (allocator, threads, compile caches). The
callable is the same: the case's context subject, built through the engine's registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gembench.engine.policy import Timing
from gembench.plan.cases import Case

BUILTIN = {"activations": ["gelu", "gem", "se_gem"], "backends": "all", "shapes": ["64K", "1M"],
           "dtypes": "float32", "passes": ["forward", "forward_backward"], "cache": "hot",
           "threads": 1}
GEMBENCH_TIMING = Timing(budget_s=1.0, min_samples=10, warmup=3)


@dataclass
class Row:
    case_id: str
    gembench_s: float | None
    torch_benchmark_s: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.gembench_s and self.torch_benchmark_s:
            return self.gembench_s / self.torch_benchmark_s
        return None


def time_one(case: Case, min_run_time: float, measure_too: bool) -> dict[str, Any]:
    """In this process: blocked_autorange of the case's timed callable (and, when asked,
    gembench's own hot median first)."""
    import torch
    from torch.utils import benchmark

    from gembench.backends import backend
    from gembench.engine.measure import measure
    from gembench.engine.registry import context_spec
    from gembench.engine.subject import SubjectArgs

    out: dict[str, Any] = {}
    if measure_too:
        rec = measure(case, GEMBENCH_TIMING)
        if rec.status != "ok" or rec.timing is None:
            return {"note": f"gembench: {rec.status} {rec.reason or ''}".strip()}
        out["gembench_s"] = rec.timing.median
    be = backend(case.backend)
    torch.set_num_threads(case.threads)
    be.configure(threads=case.threads)
    subject = context_spec(case.context).subject(SubjectArgs(be, case, GEMBENCH_TIMING, 0))
    run = subject.main.run

    def fn() -> None:
        run()
        be.synchronize(case.device)

    timer = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=case.threads)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    out["torch_benchmark_s"] = m.median
    return out


def _in_fresh_process(case: Case, min_run_time: float, measure_too: bool,
                      run_dir: Path) -> dict[str, Any]:
    from gembench.engine.runner import worker_env

    msg = json.dumps({"case": case.to_dict(), "min_run_time": min_run_time,
                      "measure": measure_too})
    proc = subprocess.run([sys.executable, "-m", "gembench.engine.crosscheck", msg],
                          capture_output=True, text=True, env=worker_env(case, run_dir),
                          timeout=600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"note": f"failed: {tail[:120]}"}
    return json.loads(lines[-1])


def _cases(results: Path | None, filter_expr: str | None) -> list[tuple[Case, float | None]]:
    """(case, gembench hot median or None to measure) to cross-check."""
    from gembench.engine.runner import matches

    if results is None:
        from gembench.plan.suite import parse_suite

        pairs: list[tuple[Case, float | None]] = [
            (c, None) for c in parse_suite(BUILTIN).cases
            if not (c.context != "elementwise" or c.backend == "triton")]
    else:
        from gembench.results import load_run

        fields = set(Case.__dataclass_fields__)
        pairs = []
        for rec in load_run(results)[1]:
            if rec.status != "ok" or rec.cache != "hot" or rec.timing is None:
                continue
            ident = {k: v for k, v in rec.to_json().items() if k in fields}
            ident["pass_"], ident["shape"] = rec.pass_, tuple(rec.shape)
            ident["preset"] = rec.preset or ""
            pairs.append((Case(**ident), rec.timing.median))
    return [(c, m) for c, m in pairs if matches(c, filter_expr)]


def crosscheck(results: Path | None = None, filter_expr: str | None = None,
               min_run_time: float = 0.5, progress: bool = True) -> list[Row]:
    pairs = _cases(results, filter_expr)
    if not pairs:
        where = f"no ok hot case of {results}" if results else "no case of the built-in suite"
        raise LookupError(f"crosscheck: {where} matches --filter {filter_expr!r}; nothing to "
                          "re-time" if filter_expr else f"crosscheck: {where}; nothing to re-time")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gembench-crosscheck-") as tmp:
        for case, median in pairs:
            got = _in_fresh_process(case, min_run_time, median is None, Path(tmp))
            row = Row(case.case_id, got.get("gembench_s", median),
                      got.get("torch_benchmark_s"), got.get("note", ""))
            rows.append(row)
            if progress:
                print(f"  {row.case_id}: {row.ratio or row.note}", file=sys.stderr)
    return rows


def summary(rows: list[Row]) -> dict[str, float]:
    """Median and worst |gembench / torch.utils.benchmark - 1| over the rows with both."""
    dev = np.abs(np.array([r.ratio for r in rows if r.ratio is not None]) - 1.0)
    if not dev.size:
        return {"cases": 0}
    return {"cases": int(dev.size), "median_deviation": float(np.median(dev)),
            "worst_deviation": float(dev.max())}


def main(results: str | None = None, filter_expr: str | None = None,
         min_run_time: float = 0.5) -> int:
    from tabulate import tabulate

    try:
        rows = crosscheck(Path(results) if results else None, filter_expr, min_run_time)
    except LookupError as exc:
        print(f"gembench: error: {exc}", file=sys.stderr)
        return 2
    print(tabulate([[r.case_id, r.gembench_s and r.gembench_s * 1e3,
                     r.torch_benchmark_s and r.torch_benchmark_s * 1e3, r.ratio, r.note]
                    for r in rows],
                   headers=["case", "gembench ms", "torch.utils.benchmark ms",
                            "gembench / tub", "note"], floatfmt=".4g"))
    s = summary(rows)
    if s["cases"]:
        print(f"\n{s['cases']} cases: median |ratio - 1| = {s['median_deviation']:.1%}, "
              f"worst = {s['worst_deviation']:.1%}")
    return 0 if s["cases"] else 1


if __name__ == "__main__":  # one case, in a fresh process: python -m ... '{"case": ...}'
    msg = json.loads(sys.argv[1])
    print(json.dumps(time_one(Case.from_dict(msg["case"]), msg["min_run_time"],
                              msg["measure"])))


__all__ = ["Row", "crosscheck", "main", "summary"]
