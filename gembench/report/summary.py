"""What ``gembench run`` prints at its end: case counts, then the verdict (one line per
activation, at most 100 characters; ``--wide``: every setting as a column), and its exit status."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gembench.report import terminal, verdict
from gembench.report.trust import EXIT_BUSY
from gembench.results import read


def print_summary(results: Path, report: Path | None = None, wide: bool = False) -> int:
    """Print case counts and the verdict; return the exit status: 1 when a case failed,
    :data:`~gembench.report.trust.EXIT_BUSY` when a headline figure was withheld because the
    machine was busy, else 0."""
    cases = read(results, problems=[]).cases
    counts = Counter(c.status for c in cases)
    print(f"\n{len(cases)} cases: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    v = verdict.build_verdict(cases)
    if wide:
        print(terminal.wide(v))
    else:
        print(terminal.terminal(v, str(report) if report else None))
    print(f"results: {results}")
    if counts.get("failed", 0):
        return 1
    return EXIT_BUSY if v.trust.too_busy else 0
