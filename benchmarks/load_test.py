"""Load test of the verdict (issue 24): the main suite's GEM-family subset, float32, run quiet,
with one CPU hog, with two, and beside a memory-streaming process; per situation, the verdict's
headline figures against the quiet run's, which were withheld, and the exit status.

    python benchmarks/load_test.py [--out DIR] [--filter EXPR] [--code DIR --show-all]
                                   [--situations quiet,hog,hog2,stream]

``--code DIR`` runs the suite with the gembench checked out in DIR (e.g. a git worktree of an
older commit) and ``--show-all`` counts every figure as shown, as a verdict that withholds
nothing did: together they give the "before" table.

A headline figure is what the terminal verdict prints for the main setting: each activation's
best implementation against the fastest ReLU, forward and forward+backward, and its block's
change against the fastest ReLU block. "off" counts figures printed as an answer more than 15%
away from the quiet run's. Nothing else may run meanwhile: it is a benchmark.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neighbours import neighbours

from gembench.report.verdict import build_verdict
from gembench.results import read

ROOT = Path(__file__).resolve().parent.parent
#: the main suite's GEM subset: its float32 hot cases of the GEM family and the ReLUs, as a
#: suite of its own so that older gembench versions (no ``|`` in filters) run the same cases
SUITE = """
name: transformer_mlp_gem
activations:
  - {name: gem, params: {N: [1, 2]}}
  - {name: e_gem, params: {N: 1, eps: [1.0e-4, 1.0e-6]}}
  - {name: se_gem, params: {N: 1, eps: 1.0e-4}}
dtypes: [float32]
cache: hot
devices: [auto]
threads: [2]
allocator: caching
timing: {budget_s: 0.1, min_samples: 7, warmup: 2, timeout_s: 600, error_elements: 262144}
groups:
  - {context: mlp_block, backends: [torch_eager, torch_fused, torch_compile, triton],
     shapes: [gpt2_small_mlp, bert_small_mlp], passes: [forward_backward]}
  - {context: mlp_block, backends: [torch_eager, torch_fused, torch_compile, triton],
     shapes: [gpt2_small_mlp], passes: [forward]}
  - {context: elementwise, backends: all, shapes: [gpt2_small_act],
     passes: [forward, forward_backward]}
"""
TOLERANCE = 0.15


def run(out: Path, kind: str, filter_expr: str | None, code: str | None = None
        ) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": code} if code else None
    t0 = time.time()
    with neighbours(kind):
        suite = out.resolve().parent / "load.yaml"
        suite.parent.mkdir(parents=True, exist_ok=True)
        suite.write_text(SUITE)
        proc = subprocess.run([sys.executable, "-m", "gembench", "run", str(suite),
                               *(["--filter", filter_expr] if filter_expr else []),
                               "--out", str(out.resolve()), "--no-progress"],
                              check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env, cwd=code)
    return proc.returncode, time.time() - t0


def headline(path: Path) -> dict[str, tuple[float, str | None]]:
    """(figure, withheld reason) per headline: ``label pass`` and ``label block``."""
    v = build_verdict(read(path).cases)
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
    ap.add_argument("--filter", help="only these cases of the GEM subset")
    ap.add_argument("--code", metavar="DIR", help="run the gembench checked out in DIR")
    ap.add_argument("--show-all", action="store_true",
                    help="count every figure as shown (a verdict that withholds nothing)")
    ap.add_argument("--situations", default="quiet,hog,hog2,stream",
                    help="which to run, comma-separated (quiet is always first)")
    args = ap.parse_args()
    from tabulate import tabulate

    kinds = ["quiet", *[k for k in args.situations.split(",") if k and k != "quiet"]]
    with tempfile.TemporaryDirectory(prefix="gembench-load-") as tmp:
        root = Path(args.out or tmp)
        results, status = {}, {}
        for kind in kinds:
            rc, wall = run(root / kind, kind, args.filter, args.code)
            results[kind] = headline(root / kind / "results.jsonl")
            if args.show_all:
                results[kind] = {k: (f, None) for k, (f, _w) in results[kind].items()}
            status[kind] = f"exit {rc}, {wall:.0f} s"
            print(f"{kind}: {status[kind]}", flush=True)
        quiet = results["quiet"]
        rows = []
        for key, (ref, _why) in sorted(quiet.items()):
            row = [key[:46], f"{ref:.3g}"]
            for kind in kinds[1:]:
                fig, why = results[kind].get(key, (float("nan"), "missing"))
                row.append("withheld" if why else f"{fig:.3g} ({fig / ref - 1:+.0%})")
            rows.append(row)
        names = {"hog": "1 CPU hog", "hog2": "2 CPU hogs", "stream": "memory stream"}
        print(tabulate(rows, headers=["headline", "quiet", *(names[k] for k in kinds[1:])],
                       disable_numparse=True))
        for kind in kinds:
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
