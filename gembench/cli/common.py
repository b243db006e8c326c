"""What every command shares: the user's mistake (one line, exit 2) and the default output."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class UserError(Exception):
    """A mistake in what the user asked for: printed as one clear message, no traceback."""


def default_out(suite_name: str, resume: bool) -> Path:
    """``results/NAME/TIMESTAMP`` (NAME is already safe as a path component), or with
    ``--resume`` the latest run directory of that suite."""
    root = Path("results") / suite_name
    if resume:
        runs = sorted(p for p in root.glob("*") if (p / "results.jsonl").exists())
        if not runs:
            raise UserError(f"--resume: no earlier run of suite {suite_name!r} under {root}/")
        return runs[-1]
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")
