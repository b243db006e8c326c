"""Cross-check gembench's hot timings against torch.utils.benchmark, case by case.

``python -m gembench crosscheck [RESULTS]`` takes every ok hot case of a results file (or,
without one, a built-in small suite: every available backend, GELU/GEM/SE-GEM with their
ReLU, forward and forward+backward, 64K and 1M float32, 1 thread, caching allocator) and,
in a fresh process per case started with the environment gembench's own worker would have
(allocator, threads, compile caches), times the case's callable (built through the engine's
registry) both ways, alternately: gembench's interleaved rounds and ``torch.utils.benchmark.
Timer.blocked_autorange``, ``repeats`` short windows each in ABBA order. The figure is the median
of the per-pair ratios (gembench window / the torch.utils.benchmark window beside it): on a
shared host, memory-bound timings shift for seconds at a time (docs/measurement.md), and
pairing cancels such shifts as gembench's own rounds do. The results file's median is shown
beside them (``file / now``): how much the machine drifted since the run, not the method's
error.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gembench.results.loading import read
from gembench.spec.cases import Case
from gembench.spec.policy import Timing
from gembench.stats import quartiles, spread

BUILTIN = {"activations": ["gelu", "gem", "se_gem"], "backends": "all", "shapes": ["64K", "1M"],
           "dtypes": "float32", "passes": ["forward", "forward_backward"], "cache": "hot",
           "threads": 1, "allocator": "caching"}
GEMBENCH_TIMING = Timing(budget_s=0.3, min_samples=5, warmup=3)


@dataclass
class Row:
    case_id: str
    gembench_s: float | None
    torch_benchmark_s: float | None
    note: str = ""
    file_s: float | None = None
    ratio: float | None = None  # gembench / torch.utils.benchmark: median per-pair ratio
    spread: float | None = None  # the per-pair ratios' (q3 - q1) / median
    x_relu: float | None = None  # gembench's "x ReLU" (the file's, else its rounds' now)
    x_relu_tub: float | None = None  # torch.utils.benchmark: case / ReLU, alternating

    @property
    def x_relu_deviation(self) -> float | None:
        """gembench's "x ReLU" over torch.utils.benchmark's, minus 1."""
        if self.x_relu and self.x_relu_tub:
            return self.x_relu / self.x_relu_tub - 1.0
        return None

    @property
    def drift(self) -> float | None:
        """The results file's median over gembench's median now."""
        if self.file_s and self.gembench_s:
            return self.file_s / self.gembench_s
        return None


def time_one(case: Case, min_run_time: float, repeats: int = 6,
             timing: Timing = GEMBENCH_TIMING) -> dict[str, Any]:
    """In this process: gembench's hot median of the case (its interleaved rounds) and
    torch.utils.benchmark's, alternately (ABBA), ``repeats`` windows each."""
    from torch.utils import benchmark

    from gembench.engine.contexts.subject import SubjectArgs
    from gembench.engine.measuring.timing import interleaved
    from gembench.engine.running.measure import CaseSkipped, make_clock, ready_backend
    from gembench.spec.contexts import context_spec

    try:
        be = ready_backend(case)
    except CaseSkipped as exc:
        return {"note": f"skipped: {exc}"}
    subject = context_spec(case.context).subject(SubjectArgs(be, case, timing, 0))
    clock = make_clock([be], case)

    def tub(run: Any) -> float:
        def fn() -> None:
            run()
            be.synchronize(case.device)

        t = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=case.threads)
        return t.blocked_autorange(min_run_time=min_run_time).median

    def tub_pass(p: Any) -> float:
        return tub(p.run) - (tub(p.subtract) if p.subtract else 0.0)

    relu = subject.companions.get("relu")
    ratios: dict[str, list[float]] = {"ours": [], "tub": []}

    def tub_case() -> float:
        t = tub_pass(subject.main)
        if relu is not None:  # the same window times the backend's ReLU right after
            ratios["tub"].append(t / tub_pass(relu))
        return t

    def ours() -> float:
        res = interleaved(subject.timed(), clock, timing, "case")
        if relu is not None:
            ratios["ours"].append(subject.ratio(res, "case", "relu").median)
        return subject.stats(res, "case").median

    got: dict[str, list[float]] = {"gembench_s": [], "torch_benchmark_s": []}
    for i in range(repeats):
        order = (("gembench_s", ours), ("torch_benchmark_s", tub_case))
        for key, how in order if i % 2 == 0 else order[::-1]:
            got[key].append(how())
    out: dict[str, Any] = {k: float(np.median(v)) for k, v in got.items()}
    pairs = np.array(got["gembench_s"]) / np.array(got["torch_benchmark_s"])
    out["ratio"], out["spread"] = quartiles(pairs)[1], spread(pairs)
    if relu is not None:
        out["x_relu"] = float(np.median(ratios["ours"]))
        out["x_relu_tub"] = float(np.median(ratios["tub"]))
    return out


def _in_fresh_process(case: Case, min_run_time: float, repeats: int,
                      run_dir: Path) -> dict[str, Any]:
    from gembench.engine.running.workers import worker_env

    msg = json.dumps({"case": case.to_dict(), "min_run_time": min_run_time,
                      "repeats": repeats})
    proc = subprocess.run([sys.executable, "-m", "gembench.crosscheck", msg],
                          capture_output=True, text=True, env=worker_env(case, run_dir),
                          timeout=600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"note": f"failed: {tail[:120]}"}
    return json.loads(lines[-1])


def _cases(results: Path | None, filter_expr: str | None
           ) -> list[tuple[Case, float | None, float | None]]:
    """(case, the file's hot median and "x ReLU", or None to measure) to cross-check."""
    from gembench.engine.running.runner import RunError, matches

    if results is None:
        from gembench.plan.suite import parse_suite

        pairs: list[tuple[Case, float | None, float | None]] = [
            (c, None, None) for c in parse_suite(BUILTIN).cases
            if not (c.context != "elementwise" or c.backend == "triton")]
    else:
        pairs = []
        _, run, cases = read(results)  # ResultsError: one line naming the file
        _warn_other_machine(results, run.environment)
        for rec in cases:
            if rec.status != "ok" or rec.cache != "hot" or rec.timing is None:
                continue
            rr = rec.timing.ratio_to_relu
            pairs.append((rec.case, rec.timing.median,
                          rr.median if rr is not None and rec.activation != "relu" else None))
    try:
        return [p for p in pairs if matches(p[0], filter_expr)]
    except RunError as exc:  # an unknown --filter key
        raise CrosscheckError(f"crosscheck: {exc}") from None


class CrosscheckError(LookupError):
    """Arguments crosscheck cannot use; the message is one line."""


#: bounds of --min-run-time (seconds per window) and --repeats (windows per method)
MIN_RUN_TIME_RANGE = (1e-3, 60.0)
REPEATS_RANGE = (1, 1000)


def check_arguments(min_run_time: float, repeats: int) -> None:
    """Refuse a ``--min-run-time`` or ``--repeats`` that could not give an answer (0, NaN,
    negative, or hours of windows)."""
    lo, hi = MIN_RUN_TIME_RANGE
    if not (isinstance(min_run_time, (int, float)) and math.isfinite(min_run_time)
            and lo <= min_run_time <= hi):
        raise CrosscheckError(f"crosscheck: --min-run-time: expected seconds in [{lo:g}, "
                              f"{hi:g}], found {min_run_time!r}")
    lo_r, hi_r = REPEATS_RANGE
    if not (isinstance(repeats, int) and lo_r <= repeats <= hi_r):
        raise CrosscheckError(f"crosscheck: --repeats: expected an integer in [{lo_r}, "
                              f"{hi_r}], found {repeats!r}")


def _warn_other_machine(results: Path, environment: dict[str, Any] | None) -> None:
    """Re-timing here a file measured on another CPU compares two machines: say so."""
    from gembench.engine.measuring.environment import cpu_info
    from gembench.results.merge import fingerprint

    theirs = fingerprint(environment)
    here = {"cpu": (cpu_info() or {}).get("brand_raw"), "cores": os.cpu_count()}
    if (theirs["cpu"], theirs["cores"]) != (here["cpu"], here["cores"]):
        print(f"gembench: warning: {results} was measured on {theirs['cpu'] or 'an unknown CPU'}"
              f" x{theirs['cores']}, this machine is {here['cpu']} x{here['cores']}: its "
              "medians ('in file', 'file / now') compare two machines", file=sys.stderr)


def crosscheck(results: Path | None = None, filter_expr: str | None = None,
               min_run_time: float = 0.3, progress: bool = True, repeats: int = 6) -> list[Row]:
    pairs = _cases(results, filter_expr)
    if not pairs:
        where = f"no ok hot case of {results}" if results else "no case of the built-in suite"
        raise LookupError(f"crosscheck: {where} matches --filter {filter_expr!r}; nothing to "
                          "re-time" if filter_expr else f"crosscheck: {where}; nothing to re-time")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gembench-crosscheck-") as tmp:
        for case, median, x_relu in pairs:
            got = _in_fresh_process(case, min_run_time, repeats, Path(tmp))
            row = Row(case.case_id, got.get("gembench_s"), got.get("torch_benchmark_s"),
                      got.get("note", ""), file_s=median, ratio=got.get("ratio"),
                      spread=got.get("spread"), x_relu=x_relu or got.get("x_relu"),
                      x_relu_tub=got.get("x_relu_tub"))
            rows.append(row)
            if progress:
                print(f"  {row.case_id}: {row.ratio or row.note}", file=sys.stderr)
    return rows


def summary(rows: list[Row]) -> dict[str, float]:
    """Median and worst |gembench / torch.utils.benchmark - 1| over the rows with both."""
    dev = np.abs(np.array([r.ratio for r in rows if r.ratio is not None]) - 1.0)
    if not dev.size:
        return {"cases": 0}
    out = {"cases": int(dev.size), "median_deviation": float(np.median(dev)),
           "worst_deviation": float(dev.max())}
    xr = np.abs(np.array([d for r in rows if (d := r.x_relu_deviation) is not None]))
    if xr.size:
        out["x_relu_cases"] = int(xr.size)
        out["x_relu_median_deviation"] = float(np.median(xr))
        out["x_relu_worst_deviation"] = float(xr.max())
    drift = np.abs(np.array([r.drift for r in rows if r.drift is not None]) - 1.0)
    if drift.size:
        out["median_drift"], out["worst_drift"] = float(np.median(drift)), float(drift.max())
    return out


def main(results: str | None = None, filter_expr: str | None = None,
         min_run_time: float = 0.3, repeats: int = 6) -> int:
    from tabulate import tabulate

    from gembench.results import ResultsError

    try:
        check_arguments(min_run_time, repeats)
        rows = crosscheck(Path(results) if results else None, filter_expr, min_run_time,
                          repeats=repeats)
    except (LookupError, ResultsError) as exc:
        print(f"gembench: error: {exc}", file=sys.stderr)
        return 2
    print(tabulate([[r.case_id, r.gembench_s and r.gembench_s * 1e3,
                     r.torch_benchmark_s and r.torch_benchmark_s * 1e3, r.ratio,
                     r.spread, r.file_s and r.file_s * 1e3, r.drift, r.x_relu, r.x_relu_tub,
                     r.note] for r in rows],
                   headers=["case", "gembench ms", "tub ms", "gembench / tub", "pair IQR / med",
                            "in file ms", "file / now", "x ReLU", "x ReLU (tub)", "note"],
                   floatfmt=".4g"))
    s = summary(rows)
    if s["cases"]:
        print(f"\n{s['cases']} cases, both methods alternating in one process, median "
              f"per-pair ratio per case; over the cases: median "
              f"|gembench / tub - 1| = {s['median_deviation']:.1%}, worst = "
              f"{s['worst_deviation']:.1%}")
        if "x_relu_cases" in s:
            src = "the results file's" if results else "gembench's rounds'"
            print(f"\"x ReLU\" ({src}) against torch.utils.benchmark's case / ReLU: median "
                  f"|deviation| {s['x_relu_median_deviation']:.1%}, worst "
                  f"{s['x_relu_worst_deviation']:.1%} over {s['x_relu_cases']} cases")
        if "median_drift" in s:
            print(f"the results file against gembench now (the machine's drift, not the "
                  f"method's error): median {s['median_drift']:.1%}, worst "
                  f"{s['worst_drift']:.1%}")
    return 0 if s["cases"] else 1


if __name__ == "__main__":  # one case, in a fresh process: python -m ... '{"case": ...}'
    msg = json.loads(sys.argv[1])
    print(json.dumps(time_one(Case.from_dict(msg["case"]), msg["min_run_time"],
                              msg["repeats"])))


__all__ = ["Row", "crosscheck", "main", "summary"]
