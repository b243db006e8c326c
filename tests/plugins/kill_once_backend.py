"""A backend whose first call kills the process that runs its measurement task (as a lost node
or a dead Ray worker would), once: a marker file (``GEMBENCH_KILL_MARKER``) records that it did.
Every activation otherwise runs through the numpy backend. For the Ray executor's retry test."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from gembench.backends.numpy_backend import NumpyBackend, NumpyKernel


class KillOnceKernel(NumpyKernel):
    def forward(self, x, out=None):
        marker = Path(os.environ["GEMBENCH_KILL_MARKER"])
        if not marker.exists():
            marker.write_text(str(os.getppid()))
            os.kill(os.getppid(), signal.SIGKILL)  # the task's process: the measurement's parent
            os._exit(1)
        return super().forward(x, out)


class KillOnceBackend(NumpyBackend):
    name = "killonce"
    summary = "test double"

    def build(self, spec, dtype, device):
        return KillOnceKernel(spec, dtype, device)
