"""Cross-check gembench's timer against torch.utils.benchmark in the same process.

``python -m gembench crosscheck`` times torch ReLU and GELU forward on 16M float32 elements
with both and prints the medians and their ratio.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from gembench.engine.measure import measure
from gembench.engine.policy import Timing
from gembench.plan.cases import Case


def crosscheck(numel: int = 1 << 24, threads: int = 1, budget_s: float = 2.0) -> list[list[Any]]:
    import torch
    import torch.nn.functional as F
    from torch.utils import benchmark

    torch.set_num_threads(threads)
    rows = []
    for name, fn in (("relu", F.relu), ("gelu", F.gelu)):
        case = Case("torch_eager", name, {}, "float32", "cpu", (numel,), "forward", threads)
        ours = measure(case, Timing(budget_s=budget_s, min_samples=10), seed=0)["timing"]
        x = torch.randn(numel)
        timer = benchmark.Timer("fn(x)", globals={"fn": fn, "x": x}, num_threads=threads)
        theirs = timer.adaptive_autorange(min_run_time=budget_s)
        rows.append([name, ours["median"] * 1e3, ours["count"], theirs.median * 1e3,
                     len(theirs.times), ours["median"] / theirs.median])
    return rows


def main(numel: int = 1 << 24, threads: int = 1) -> int:
    rows = crosscheck(numel, threads)
    print(tabulate(rows, headers=["torch_eager forward", "gembench median ms", "samples",
                                  "torch.utils.benchmark median ms", "measurements",
                                  "gembench / torch.utils.benchmark"], floatfmt=".3f"))
    return 0
