"""A backend that misbehaves on purpose, for the runner's isolation tests.

gelu kills its worker process (as an out-of-memory kill would), silu hangs, mish raises,
lambda_gelu is 1% off; every other activation runs through the numpy backend.
"""

from __future__ import annotations

import os
import signal
import time

from gembench.backends.numpy_backend import NumpyBackend, NumpyKernel


class MisbehavingKernel(NumpyKernel):
    def forward(self, x, out=None):
        name = self.spec.name
        if name == "gelu":
            os.kill(os.getpid(), signal.SIGKILL)
        if name == "silu":
            time.sleep(3600)
        if name == "mish":
            raise ValueError("mish is broken on purpose")
        y = super().forward(x, out)
        return y * 1.01 if name == "lambda_gelu" else y


class MisbehavingBackend(NumpyBackend):
    name = "misbehaving"
    summary = "test double"

    def build(self, spec, dtype, device):
        return MisbehavingKernel(spec, dtype, device)
