"""What ``gembench run`` prints at its end: case counts, then the verdict (about 25 lines)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gembench.report import verdict
from gembench.results import load_run


def print_summary(results: Path) -> int:
    """Print case counts and the verdict; return the number of failed cases."""
    _, cases = load_run(results)
    counts = Counter(c.status for c in cases)
    print(f"\n{len(cases)} cases: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(verdict.terminal(verdict.build_verdict(cases)))
    return counts.get("failed", 0)
