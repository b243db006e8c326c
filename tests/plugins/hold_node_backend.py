"""A backend whose first call in a process says it started (a file in ``GEMBENCH_HOLD_DIR``) and
waits until the test writes ``release`` there (60 s at most): the Ray node-loss test removes a
node while its task waits. Every activation otherwise runs through the numpy backend."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gembench.backends.numpy_backend import NumpyBackend, NumpyKernel

_held = False


class HoldKernel(NumpyKernel):
    def forward(self, x, out=None):
        global _held
        if not _held:
            _held = True
            where = Path(os.environ["GEMBENCH_HOLD_DIR"])
            (where / f"started-{os.getpid()}").write_text(self.dtype)
            deadline = time.monotonic() + 60
            while not (where / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().forward(x, out)


class HoldNodeBackend(NumpyBackend):
    name = "holdnode"
    summary = "test double"

    def build(self, spec, dtype, device):
        return HoldKernel(spec, dtype, device)
