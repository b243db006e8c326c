"""Where a command may write: output paths checked before any work, never over an input, and
files written whole (a temporary file beside the target, synced, then renamed), so that a
killed or failed write leaves the old file or nothing, never half a file.

Used by ``merge`` (a directory), ``export`` and ``report --html`` (a file).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from gembench.results.store import ResultsError

#: the longest file name most Linux file systems take, when the system cannot say.
_NAME_MAX = 255
#: suffix of the temporary file a write goes through (a killed write leaves only this).
PARTIAL = ".partial"


def shown(path: Path | str) -> str:
    """A path short enough for a one-line message."""
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except (OSError, RuntimeError):
        return False


def input_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files that ``paths`` (results files or run directories) name."""
    out = []
    for p in map(Path, paths):
        with contextlib.suppress(OSError):
            out.append(p / "results.jsonl" if p.is_dir() else p)
    return out


def is_results_file(path: Path) -> bool:
    """Whether ``path`` is a regular file whose first line is a gembench run record (a fifo or
    device is never read: it could block)."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as fh:
            head = fh.readline(1 << 20)
    except OSError:
        return False
    try:
        rec = json.loads(head.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return isinstance(rec, dict) and rec.get("kind") == "run"


def _existing_ancestor(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_out_file(out: Path, inputs: Iterable[Path | str], flag: str) -> None:
    """Refuse an output file that is one of ``inputs``, any gembench results file, a
    directory, below a regular file, too long a name, or in a place that cannot be written."""
    try:
        _check_target(Path(out), input_files(inputs), flag, directory=False)
    except OSError as exc:
        raise ResultsError(f"{flag} {shown(out)}: {exc.strerror or exc}") from None


def check_out_dir(out: Path, inputs: Iterable[Path | str], flag: str) -> None:
    """Refuse an output directory that is a file, below a file, too long a name, unwritable,
    or whose ``results.jsonl`` is one of ``inputs``."""
    try:
        _check_target(Path(out), input_files(inputs), flag, directory=True)
    except OSError as exc:
        raise ResultsError(f"{flag} {shown(out)}: {exc.strerror or exc}") from None


def _check_target(out: Path, inputs: list[Path], flag: str, *, directory: bool) -> None:
    target = out / "results.jsonl" if directory else out
    if any(_same(target, p) for p in inputs):
        raise ResultsError(f"{flag} {shown(out)}: is one of the files read; refusing to write "
                           "over an input")
    if directory and out.exists() and not out.is_dir():
        raise ResultsError(f"{flag} {shown(out)}: exists and is not a directory")
    if not directory and out.is_dir():
        raise ResultsError(f"{flag} {shown(out)}: a directory; expected a file name")
    if not directory and is_results_file(out):
        raise ResultsError(f"{flag} {shown(out)}: a gembench results file; refusing to "
                           "overwrite it")
    base = out if directory and out.is_dir() else _existing_ancestor(out)
    if not base.is_dir():
        raise ResultsError(f"{flag} {shown(out)}: {shown(base)} is a file, not a directory")
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = _NAME_MAX
    longest = max((len(p.encode(errors="surrogateescape")) + len(PARTIAL) + 1
                   for p in target.parts[len(base.parts):]), default=0)
    if longest > name_max:
        raise ResultsError(f"{flag} {shown(out)}: a file name too long for this file system "
                           f"({name_max} bytes at most)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ResultsError(f"{flag} {shown(out)}: cannot write in {shown(base)} (read-only or "
                           "not permitted)")


def write_whole(path: Path, data: bytes, flag: str = "--out") -> None:
    """Write ``data`` to ``path`` through ``path.partial`` (synced, then renamed over
    ``path``): a reader sees the old file or the new one, never part of one. A failure (full
    disk, read-only) removes the partial file and is a one-line :class:`ResultsError`."""
    path = Path(path)
    tmp = path.with_name(path.name + PARTIAL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _sync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ResultsError(f"{flag} {shown(path)}: cannot write: {exc.strerror or exc}"
                           ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["PARTIAL", "check_out_dir", "check_out_file", "input_files", "is_results_file",
           "shown", "write_whole"]
