"""Reading results files for reports (moves to :mod:`gembench.results` with the typed model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gembench.results import load_run


class ResultsError(Exception):
    """A path given as results is missing or is not a gembench results file."""


def results_path(path: Path | str) -> Path:
    """The results file for ``path``: the file itself, or ``results.jsonl`` in a run directory."""
    p = Path(path)
    if p.is_dir():
        inner = p / "results.jsonl"
        if not inner.is_file():
            raise ResultsError(f"{p}: a directory without results.jsonl")
        return inner
    if not p.exists():
        raise ResultsError(f"{p}: no such file or directory")
    if not p.is_file():
        raise ResultsError(f"{p}: not a regular file")
    return p


def load_results(path: Path | str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """``(file, run record, case records)`` of a results file or run directory.

    Raises :class:`ResultsError` with a one-line message when it is not a results file.
    """
    p = results_path(path)
    try:
        run, cases = load_run(p)
    except UnicodeDecodeError:
        raise ResultsError(f"{p}: not a gembench results file (not UTF-8 text)") from None
    except ValueError as exc:  # a results schema this gembench does not read
        raise ResultsError(f"{p}: {exc}") from None
    except OSError as exc:
        raise ResultsError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except (KeyError, TypeError, AttributeError):
        raise ResultsError(f"{p}: not a gembench results file (malformed records)") from None
    if not run:
        raise ResultsError(f"{p}: not a gembench results file (no run record on its first "
                           "line; expected JSON lines written by `gembench run`)")
    return p, run, cases


__all__ = ["ResultsError", "load_results", "results_path"]
