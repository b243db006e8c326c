"""Writing a results file: atomic appends, torn-tail repair, the run-directory lock, and the
checks ``--resume`` makes before it writes.

Guarantees (see the README's "Reliability"): a record is one line written with one ``write``
and ``fsync``; a write that fails (full disk, Ctrl-C) is cut back to the last complete line;
a torn last line left by a kill is cut off before anything is appended.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from gembench.results.store import END_KIND, ResultsError, end_mark, iter_lines, scan_results

LOCK_NAME = ".gembench.lock"


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no final newline: a write interrupted by a kill or a full disk)
    off ``path``; return the number of bytes removed."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        end, block = size, 1 << 16
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            end = start
        else:
            keep = 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


class ResultsWriter:
    """Appends records to a results file, one line per ``write``, synced; a torn last line
    is cut off first (:attr:`repaired` bytes), and a failed write is cut back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired = repair_tail(self.path)
            _drop_end_mark(self.path)
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot open for appending: "
                               f"{exc.strerror or exc}") from None

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, default=_jsonable, allow_nan=True) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResultsError(_write_failure(self.path, exc)) from None
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException as exc:  # full disk, Ctrl-C: leave no torn line behind
                with contextlib.suppress(OSError):  # else the next --resume cuts it off
                    os.ftruncate(fd, start)
                if isinstance(exc, OSError):
                    raise ResultsError(_write_failure(self.path, exc)) from None
                raise
        finally:
            os.close(fd)


def _drop_end_mark(path: Path) -> None:
    """Appending to a complete file (``--resume``, a re-run) makes it incomplete until its
    writer ends again: the end mark goes now and comes back with :func:`mark_complete`."""
    if not path.is_file():  # absent, or a device such as /dev/full (reads never end)
        return
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 4096))
        tail = fh.read(min(size, 4096))
        lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
        try:
            last = json.loads(lines[-1])
        except ValueError:
            return
        if isinstance(last, dict) and last.get("kind") == END_KIND:
            fh.truncate(size - len(tail) + (len(lines[0]) + 1 if len(lines) == 2 else 0))


def _write_failure(path: Path, exc: OSError) -> str:
    hint = "; free some space, then continue with --resume" if exc.errno in (
        errno.ENOSPC, errno.EDQUOT) else ""
    return f"{path}: cannot write a record: {exc.strerror or exc}{hint}"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def count_records(path: Path) -> int:
    """Records (non-blank lines, end marks aside) in a results file, as :func:`scan` counts."""
    return sum(1 for _, rec, problem in iter_lines(path)
               if not (problem is None and isinstance(rec, dict) and rec.get("kind") == END_KIND))


def mark_complete(path: Path) -> None:
    """Append the end mark that says every record of the file is there (a run that finished,
    a merge); :class:`ResultsError` when it cannot be written."""
    path = Path(path)
    try:
        records = count_records(path)
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    ResultsWriter(path).append(end_mark(records))


class RunLock:
    """An exclusive ``flock`` on ``DIR/.gembench.lock`` for as long as a run writes into DIR;
    a second run (or ``--resume``) into the same directory is refused, naming the holder."""

    def __init__(self, run_dir: Path) -> None:
        import fcntl

        self.path = Path(run_dir) / LOCK_NAME
        try:
            self._fh = self.path.open("a+")
        except OSError as exc:
            raise ResultsError(f"{run_dir}: cannot create the lock file {LOCK_NAME}: "
                               f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "?"
            self._fh.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise ResultsError(f"{run_dir}: another gembench run (pid {holder}) is writing "
                               "here; wait for it to finish or choose another --out") from None
        try:
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.write(f"{os.getpid()}\n")
            self._fh.flush()
        except OSError as exc:  # a full or read-only file system: the lock holds anyway
            self._fh.close()
            raise ResultsError(f"{run_dir}: cannot write the lock file {LOCK_NAME}: "
                               f"{exc.strerror or exc}") from None

    def release(self) -> None:
        if not self._fh.closed:
            self._fh.close()  # closing the descriptor drops the lock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_resumable(path: Path) -> dict[str, Any]:
    """The run record of a results file that ``--resume`` may append to; raises
    :class:`ResultsError` (before anything is written) for a directory, a device or fifo, a
    binary or foreign file, or another schema version."""
    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"{path}: a directory, not a results file; refusing to resume")
    if not path.is_file():
        raise ResultsError(f"{path}: not a regular file; refusing to resume")
    return scan_results(path, "; refusing to resume into it").run
