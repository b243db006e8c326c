"""Where a report goes: ``--out`` checked before any work, and write failures as one line."""

from __future__ import annotations

from pathlib import Path

from gembench.results.paths import check_out_file, shown
from gembench.results.store import ResultsError


class ReportOutputError(Exception):
    """The report cannot be written where asked; the message is one line naming the path."""


def check_report_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot hold a report: an existing file that is not a markdown
    report (``results.jsonl`` would be lost), and whatever no output file may be (a directory,
    a path under a regular file, too long a name, an unwritable place:
    :func:`gembench.results.paths.check_out_file`)."""
    if out.exists() and not out.is_dir() and out.suffix != ".md":
        raise ReportOutputError(f"--out {shown(out)}: exists and is not a markdown report "
                                "(.md); refusing to overwrite it")
    try:
        check_out_file(out, [], "--out")
    except ResultsError as exc:
        raise ReportOutputError(str(exc)) from None


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
        raise ReportOutputError(f"cannot write the report {shown(where)}: "
                                f"{exc.strerror or exc}") from None
