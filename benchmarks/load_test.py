"""Load test of the verdict (issue 24): the main suite's GEM-family subset, float32, run quiet,
with one CPU hog, with two, and beside a memory-streaming process; per situation, the verdict's
headline figures against the quiet run's, which were withheld, and the exit status.

    python benchmarks/load_test.py [--out DIR] [--filter EXPR]

A headline figure is what the terminal verdict prints for the main setting: each activation's
best implementation against the fastest ReLU, forward and forward+backward, and its block's
change against the fastest ReLU block. "off" counts figures printed as an answer more than 15%
away from the quiet run's. Nothing else may run meanwhile: it is a benchmark.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neighbours import neighbours

from gembench.report.verdict import build_verdict
from gembench.results import load_run

ROOT = Path(__file__).resolve().parent.parent
FILTER = "dtype=float32,cache=hot,activation=gem|e_gem|se_gem|relu"
TOLERANCE = 0.15


def run(out: Path, kind: str, filter_expr: str) -> tuple[int, float]:
    t0 = time.time()
    with neighbours(kind):
        proc = subprocess.run([sys.executable, "-m", "gembench", "run", "transformer_mlp",
                               "--filter", filter_expr, "--out", str(out), "--no-progress"],
                              check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode, time.time() - t0


def headline(path: Path) -> dict[str, tuple[float, str | None]]:
    """(figure, withheld reason) per headline: ``label pass`` and ``label block``."""
    v = build_verdict(load_run(path)[1])
    out: dict[str, tuple[float, str | None]] = {}
    for r in v.rows:
        if (r.dtype, r.cache) == ("float32", "hot") and r.activation != "relu":
            out[f"{r.label} {r.pass_}"] = (r.ratio, r.withheld)
    for b in v.blocks:
        if (b.dtype, b.cache) == ("float32", "hot") and b.activation != "relu":
            out[f"{b.label} {b.preset} {b.pass_}"] = (b.ratio, b.withheld)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    ap.add_argument("--filter", default=FILTER, help=f"cases to run (default {FILTER})")
    args = ap.parse_args()
    from tabulate import tabulate

    with tempfile.TemporaryDirectory(prefix="gembench-load-") as tmp:
        root = Path(args.out or tmp)
        results, status = {}, {}
        for kind in ("quiet", "hog", "hog2", "stream"):
            rc, wall = run(root / kind, kind, args.filter)
            results[kind] = headline(root / kind / "results.jsonl")
            status[kind] = f"exit {rc}, {wall:.0f} s"
            print(f"{kind}: {status[kind]}", flush=True)
        quiet = results["quiet"]
        rows = []
        for key, (ref, _why) in sorted(quiet.items()):
            row = [key[:46], f"{ref:.3g}"]
            for kind in ("hog", "hog2", "stream"):
                fig, why = results[kind].get(key, (float("nan"), "missing"))
                row.append("withheld" if why else f"{fig:.3g} ({fig / ref - 1:+.0%})")
            rows.append(row)
        print(tabulate(rows, headers=["headline", "quiet", "1 CPU hog", "2 CPU hogs",
                                      "memory stream"], disable_numparse=True))
        for kind in ("quiet", "hog", "hog2", "stream"):
            figs = results[kind]
            shown = {k: f for k, (f, w) in figs.items() if not w}
            off = [k for k, f in shown.items() if k in quiet
                   and abs(f / quiet[k][0] - 1) > TOLERANCE]
            print(f"{kind}: {status[kind]}; {len(shown)} shown, {len(figs) - len(shown)} "
                  f"withheld, {len(off)} shown more than {TOLERANCE:.0%} off the quiet run"
                  + (f" ({', '.join(off)})" if off and kind != "quiet" else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
