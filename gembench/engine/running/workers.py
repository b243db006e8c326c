"""Worker processes, seen from the runner: the environment a case's setting needs from process
start, and :class:`Worker`, which starts one and exchanges JSON lines with it."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gembench.backends import backend
from gembench.engine.measuring.environment import ALLOCATOR_SETTINGS
from gembench.spec.cases import Case
from gembench.spec.policy import Timing

#: seconds a new worker may take to say it is ready (imports torch)
_STARTUP_TIMEOUT_S = 120.0


def setting_env(case: Case) -> dict[str, str]:
    """What a case's setting needs in the environment from process start: allocator, threads."""
    return {**ALLOCATOR_SETTINGS[case.allocator], "OMP_NUM_THREADS": str(case.threads),
            "MKL_NUM_THREADS": str(case.threads), "PYTHONUNBUFFERED": "1"}


def worker_env(case: Case, run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(setting_env(case))
    be = backend(case.backend)
    env.update(be.worker_env(case.device, str(run_dir)))
    return env


class Worker:
    """A worker process speaking the JSON-lines protocol of
    :mod:`gembench.engine.running.worker`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gembench.engine.running.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, env=env, text=True, bufsize=1,
        )
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buf = b""  # bytes read from the pipe but not yet returned (a group sends many lines)
        hello = self._read(_STARTUP_TIMEOUT_S)
        if hello is None or not hello.get("ready"):
            self.close()
            raise RuntimeError(f"worker did not start (see {log})")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line; None after ``timeout`` seconds of silence; {} at end of file.
        Reads the pipe's raw bytes (a buffered ``readline`` would hide lines already read from
        the selector)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return {}
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def run_group(self, cases: list[Case], timings: list[Timing], seed: int,
                  profile_dir: str | None = None, marker: str | None = None
                  ) -> Iterator[dict[str, Any]]:
        """Send one comparison group; yield the worker's events (``built``, ``round``,
        ``outcome``) until ``done``, or one ``{"event": "died", "reason": ...}`` when the worker
        crashed or went silent for longer than the group's ``timeout_s`` (it is then closed)."""
        assert self.proc.stdin is not None
        msg = {"group": [c.to_dict() for c in cases], "timings": [asdict(t) for t in timings],
               "seed": seed, "profile_dir": profile_dir, "marker": marker}
        timeout = max(t.timeout_s for t in timings)
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            yield {"event": "died", **self._died()}
            return
        while True:
            reply = self._read(timeout)
            if reply is None:
                self.close()
                yield {"event": "died", "reason": f"timed out after {timeout:g} s"}
                return
            if not reply:
                yield {"event": "died", **self._died()}
                return
            if reply.get("event") == "done":
                return
            yield reply

    def _died(self) -> dict[str, Any]:
        code = self.proc.wait(timeout=30)
        why = f"worker process died (exit code {code})"
        if code in (-9, 137):
            why += ": killed, most likely out of memory"
        elif code is not None and code < 0:
            why += f": signal {-code}"
        return {"status": "failed", "reason": why}

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
