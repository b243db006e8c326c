"""The machine's noise floor for a per-round ratio: two identical ReLUs (torch eager, on inputs
of their own) timed against each other in gembench's rounds, alone and among fillers.

    python benchmarks/noise_floor.py [--size 1M] [--pass forward_backward] [--threads 2]
                                     [--seconds 20] [--fillers 0,30]

A/A: the per-round ratio of the two ReLUs has median 1 and an interquartile spread that no
per-round ratio measured the same way can beat on this machine, whatever the engine's order.
``--fillers K`` puts K other callables (torch eager GELU, each on its own input) in each round,
as a comparison group of K cases does, so the pair sits further apart in time. Run it with the
worker's allocator setting (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, see
docs/measurement.md) and nothing else running: it is a benchmark.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

SIZES = {"64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}


def floor(size: int, pass_: str, threads: int, seconds: float, fillers: int) -> dict[str, Any]:
    """Per-round spread of A/A and each callable's own spread, from one set of rounds."""
    import torch

    from gembench.engine.measuring.passes import TimedPass
    from gembench.engine.measuring.timing import CpuClock, RoundPlan, interleaved
    from gembench.spec.policy import Timing
    from gembench.stats import per_round

    torch.set_num_threads(threads)

    def relu_pass(fn: Any) -> Any:
        return TimedPass(fn, pass_, torch.randn(size), torch.randn(size)).run

    fns = {"a": relu_pass(torch.relu), "b": relu_pass(torch.relu)}
    for i in range(fillers):
        fns[f"filler{i}"] = relu_pass(torch.nn.functional.gelu)
    timing = Timing(budget_s=seconds, min_samples=10, max_samples=100_000, target_precision=0.0)
    res = interleaved(fns, CpuClock(), timing, "a", plan=RoundPlan(shuffle=0))

    def spread(x: Any) -> float:
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        return float((q3 - q1) / med)

    ratio = per_round(res.samples["a"], res.samples["b"])
    return {"rounds": len(res.samples["a"]), "aa_median": float(np.median(ratio)),
            "aa_spread": spread(ratio), "a_spread": spread(res.samples["a"]),
            "b_spread": spread(res.samples["b"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1M", choices=sorted(SIZES))
    ap.add_argument("--pass", dest="pass_", default="forward_backward",
                    choices=["forward", "forward_backward"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fillers", default="0,30", help="comma-separated filler counts")
    args = ap.parse_args()
    print(f"A/A ReLU {args.size} {args.pass_} {args.threads} threads, {args.seconds:g} s each")
    for k in (int(v) for v in args.fillers.split(",")):
        r = floor(SIZES[args.size], args.pass_, args.threads, args.seconds, k)
        print(f"  fillers {k:3d}: {r['rounds']:5d} rounds, A/A median {r['aa_median']:.3f}, "
              f"spread {100 * r['aa_spread']:.1f}% (each alone: {100 * r['a_spread']:.1f}%, "
              f"{100 * r['b_spread']:.1f}%)")


if __name__ == "__main__":
    main()
