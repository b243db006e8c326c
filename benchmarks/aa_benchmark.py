"""A/A benchmark of ``compare`` and ``ab`` on this machine (issue 19): false alarms when nothing
changed (quiet, a CPU hog on another core, a memory-streaming neighbour) and slowdowns caught
when one implementation is made 5%, 10% and 20% slower.

    python benchmarks/aa_benchmark.py [--out DIR] [--repeats N] [--skip-ab]

It runs a 68-case suite (GELU, SiLU, GEM, SE-GEM and ReLU on numpy, torch_eager, torch_fused and
a plugin implementation of GEM, 64K and 1M float32, forward and forward+backward, 1 thread;
torch_compile is left out to keep a run under a minute) once per situation, then compares
each run with the first quiet one, by today's rule (per-round ratio to the anchor ReLU,
:mod:`gembench.decide`) and by the rule ``compare`` had before (Mann-Whitney on raw samples,
10% threshold, p < 0.01). ``ab`` runs the plugin against its twin (A/A) and against its slowed
copy, 3 repeats each. Nothing else may run meanwhile: it is a benchmark.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from neighbours import neighbours
from scipy.stats import mannwhitneyu

from gembench.compare import compare_paths
from gembench.results import read

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugins" / "ab_plugin.py"
SLOWED = "ab_gem_slow"
SUITE = f"""
name: aa
activations: [gelu, silu, gem, se_gem]
backends: [numpy, torch_eager, torch_fused, {SLOWED}]
shapes: [64K, 1M]
passes: [forward, forward_backward]
cache: hot
threads: [1]
allocator: caching
plugins: [{PLUGIN}]
timing: {{budget_s: 0.1, min_samples: 10, warmup: 2}}
"""
AB_SUITE = SUITE.replace("[gelu, silu, gem, se_gem]", "[gem]").replace(
    f"[numpy, torch_eager, torch_fused, {SLOWED}]", "[ab_gem]")
SITUATIONS = [("quiet A/A", "quiet", 0.0), ("A/A, CPU hog", "hog", 0.0),
              ("A/A, memory stream", "stream", 0.0), ("5% slower", "quiet", 0.05),
              ("10% slower", "quiet", 0.10), ("20% slower", "quiet", 0.20)]


def gembench(args: list[str], slowdown: float) -> None:
    env = {**os.environ, "GEMBENCH_TEST_SLOWDOWN": str(slowdown), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "gembench", *args, "--no-progress"], env=env,
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def old_rule(base: Path, new: Path) -> set[str]:
    """The rule ``compare`` had before: raw samples, change > 10% and Mann-Whitney p < 0.01."""
    a = {c.case_id: c for c in read(base).cases if c.status == "ok" and c.timing}
    b = {c.case_id: c for c in read(new).cases if c.status == "ok" and c.timing}
    out = set()
    for cid in a.keys() & b.keys():
        xs, ys = np.asarray(a[cid].timing.samples), np.asarray(b[cid].timing.samples)
        if np.median(ys) / np.median(xs) - 1 > 0.10 and \
                mannwhitneyu(ys, xs, alternative="greater").pvalue < 0.01:
            out.add(cid)
    return out


def slowed(cid: str) -> bool:
    return f"/{SLOWED}/gem(" in cid


def score(found: set[str], cases: list[str], slowdown: float) -> str:
    target = [c for c in cases if slowed(c)]
    false = sorted(c for c in found if not (slowdown and slowed(c)))
    caught = sum(c in found for c in target) if slowdown else None
    text = f"{len(false)} false"
    if caught is not None:
        text += f", caught {caught}/{len(target)}"
    return text


def compare_part(out: Path, repeats: int) -> list[list[str]]:
    suite = out / "aa.yaml"
    suite.write_text(SUITE)
    base = out / "base"
    gembench(["run", str(suite), "--out", str(base)], 0.0)
    rows = []
    for rep in range(repeats):
        for name, kind, slowdown in SITUATIONS:
            run = out / f"{kind}-{slowdown:g}-{rep}"
            t0 = time.time()
            with neighbours(kind):
                gembench(["run", str(suite), "--out", str(run)], slowdown)
            cmp = compare_paths(base, run)
            ids = [c.case_id for c in cmp.changes]
            new = {c.case_id for c in cmp.regressions}
            rows.append([f"{name} #{rep + 1}", str(len(ids)), score(old_rule(base, run), ids,
                                                                     slowdown),
                         score(new, ids, slowdown), f"{time.time() - t0:.0f} s"])
            print("  ".join(rows[-1]), flush=True)
    return rows


def ab_part(out: Path) -> list[list[str]]:
    from gembench.ab import pairs
    from gembench.results import read

    suite = out / "ab.yaml"
    suite.write_text(AB_SUITE)
    rows = []
    for name, kind, slowdown in SITUATIONS:
        new = "ab_gem_twin" if slowdown == 0 else SLOWED
        run = out / f"ab-{kind}-{slowdown:g}"
        with neighbours(kind):
            gembench(["ab", str(suite), "--base", "ab_gem", "--new", new, "--repeats", "3",
                      "--out", str(run)], slowdown)
        runs = [read(p).cases for p in sorted(run.glob("rep-*/results.jsonl"))]
        got = pairs(runs, "ab_gem", new)
        slower = [p for p in got if p.verdict == "NEW SLOWER"]
        gem = [p for p in got if p.label.startswith("gem")]
        false = [p for p in slower if not (slowdown and p.label.startswith("gem"))]
        caught = sum(p.verdict == "NEW SLOWER" for p in gem)
        width = max((p.high - p.low) / 2 for p in gem if "1M" in p.label) if gem else np.nan
        est = ", ".join(f"{p.estimate:+.1%}" for p in gem)
        rows.append([name, str(len(got)), f"{len(false)} false" + (
            f", caught {caught}/{len(gem)}" if slowdown else ""), f"±{width:.1%}", est])
        print("  ".join(rows[-1]), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    ap.add_argument("--repeats", type=int, default=1, help="repeats of every situation")
    ap.add_argument("--skip-ab", action="store_true")
    args = ap.parse_args()
    from tabulate import tabulate

    with tempfile.TemporaryDirectory(prefix="gembench-aa-") as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        rows = compare_part(out, args.repeats)
        print("\ncompare, each run against the first quiet run (regressions reported):")
        print(tabulate(rows, headers=["situation", "cases", "before: raw MW 10%",
                                      "now: anchor ratio, FDR", "wall"]))
        if not args.skip_ab:
            rows = ab_part(out)
            print("\nab, 3 repeats side by side (NEW SLOWER reported):")
            print(tabulate(rows, headers=["situation", "pairs", "NEW SLOWER",
                                          "95% half-width at 1M", "GEM estimates"]))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
