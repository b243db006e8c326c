"""Neighbours for the A/A and load benchmarks: a CPU hog and a memory-streaming process, each
a child process bounded in time (killed on exit, and by its own deadline if we die)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

HOG = """
import time
end = time.time() + {limit}
x = 0
while time.time() < end:
    for i in range(100000):
        x += i * i
"""

STREAM = """
import time
import numpy as np
end = time.time() + {limit}
a = np.ones(64 << 20 >> 3)  # 64 MiB, twice the LLC
b = np.empty_like(a)
while time.time() < end:
    np.copyto(b, a)
    np.copyto(a, b)
"""


@contextlib.contextmanager
def neighbours(kind: str, limit_s: float = 1800) -> Iterator[None]:
    """``kind``: ``quiet``, ``hog`` (one CPU-bound process), ``hog2`` (two) or ``stream`` (a
    process copying 64 MiB back and forth, one core)."""
    code = {"quiet": [], "hog": [HOG], "hog2": [HOG, HOG], "stream": [STREAM]}[kind]
    procs = [subprocess.Popen([sys.executable, "-c", c.format(limit=limit_s)]) for c in code]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


__all__ = ["neighbours"]
