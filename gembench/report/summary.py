"""The short summary printed at the end of ``gembench run``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tabulate import tabulate

from gembench.results import load_run


def print_summary(results: Path, limit: int = 40) -> int:
    """Print case counts, failures and a ratio-to-ReLU table; return the number failed."""
    _, cases = load_run(results)
    counts = Counter(c["status"] for c in cases)
    print(f"\n{len(cases)} cases: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    rows = []
    for c in cases:
        if c["status"] != "ok":
            continue
        t = c["timing"]
        frac = c.get("derived", {}).get("bandwidth_fraction")
        rows.append([c["context"], c["label"], c["backend"], c["dtype"],
                     "x".join(map(str, c["shape"])), c["pass"], f"{t['median'] * 1e3:.3f}",
                     f"{t['iqr'] / t['median']:.1%}", t["count"],
                     f"{t['ratio_to_relu']['median']:.2f}",
                     f"{frac:.0%}" if frac is not None else "-"])
    if rows:
        rows.sort(key=lambda r: (r[0], r[5], r[4], r[3], r[2], r[1]))
        shown = rows if len(rows) <= limit else rows[:limit]
        print(tabulate(shown, headers=["context", "activation", "backend", "dtype", "shape",
                                       "pass", "median ms", "IQR", "n", "x ReLU (same backend)",
                                       "of copy BW"]))
        if len(rows) > limit:
            print(f"... {len(rows) - limit} more rows in the report")
    bad = [c for c in cases if c["status"] == "failed"]
    for c in bad:
        print(f"FAILED {c['case_id']}: {c.get('reason')}")
    return len(bad)
