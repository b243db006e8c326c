"""Where a report goes: ``--out`` checked before any work, and write failures as one line."""

from __future__ import annotations

import os
from pathlib import Path

#: the longest file name most Linux file systems take, when the system cannot say.
_NAME_MAX = 255


class ReportOutputError(Exception):
    """The report cannot be written where asked; the message is one line naming the path."""


def _existing_ancestor(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    return parent


def _shown(path: Path | str) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-20:]}"


def check_report_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot hold a report: a directory, an existing file that is
    not a markdown report (``results.jsonl`` would be lost), a path under a regular file, a
    name longer than the file system allows, a place that cannot be written."""
    try:
        _check(out)
    except OSError as exc:  # a name the system cannot even look up
        raise ReportOutputError(f"--out {_shown(out)}: {exc.strerror or exc}") from None


def _check(out: Path) -> None:
    if out.is_dir():
        raise ReportOutputError(f"--out {out}: a directory; expected a file name such as "
                                f"{out / 'report.md'}")
    if out.exists() and out.suffix != ".md":
        raise ReportOutputError(f"--out {out}: exists and is not a markdown report (.md); "
                                "refusing to overwrite it")
    base = _existing_ancestor(out)
    if not base.is_dir():
        raise ReportOutputError(f"--out {out}: {base} is a file, not a directory")
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = _NAME_MAX
    longest = max((len(p.encode()) for p in out.parts[len(base.parts):]), default=0)
    if longest > name_max:
        raise ReportOutputError(f"--out {_shown(out)}: a file name of {longest} bytes; this file "
                                f"system allows {name_max}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ReportOutputError(f"--out {out}: cannot write in {base} (read-only or not "
                                "permitted)")


def write_report_to(results: list[Path], out: Path | None) -> Path:
    """:func:`gembench.report.markdown.write_report`, with ``--out`` checked first and a
    failed write (full disk, permissions) turned into :class:`ReportOutputError`; a report
    file it created half-way is removed."""
    from gembench.report.markdown import write_report

    if out is not None:
        check_report_out(out)
    existed = out is not None and out.exists()
    try:
        return write_report(results, out)
    except OSError as exc:
        where = exc.filename or out or "reports/"
        if out is not None and not existed and out.is_file():
            out.unlink()
        raise ReportOutputError(f"cannot write the report {_shown(where)}: "
                                f"{exc.strerror or exc}") from None
