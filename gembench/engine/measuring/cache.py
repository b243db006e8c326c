"""Cache state: the last-level cache size of this machine and the flush that makes a call cold.

``hot``: the same callable repeated (steady state, as torch.utils.benchmark measures it).
``cold``: before every call, a buffer at least twice the last-level cache is written, so the
call finds neither its inputs nor its output in any cache level (CUDA: the L2, see
:class:`gembench.engine.measuring.timing.CudaClock`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
#: assumed when the machine does not say (larger than any current desktop/server LLC slice).
FALLBACK_LLC_BYTES = 64 * 1024**2


def _parse_size(text: str) -> int | None:
    m = re.match(r"^\s*(\d+)\s*([KMG]?)(i?B)?\s*$", text.strip(), re.I)
    return int(m.group(1)) * _UNITS[m.group(2).upper()] if m else None


def _from_sysfs(root: Path) -> int | None:
    best: tuple[int, int] | None = None
    for idx in root.glob("index*"):
        try:
            level = int((idx / "level").read_text())
            kind = (idx / "type").read_text().strip()
            size = _parse_size((idx / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and size and (best is None or level > best[0]):
            best = (level, size)
    return best[1] if best else None


def _from_lscpu() -> int | None:
    try:
        out = subprocess.run(["lscpu", "-B"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    sizes = {m.group(1): int(m.group(2))
             for m in re.finditer(r"^L(\d)\S* cache:\s+(\d+)", out, re.M)}
    return sizes[max(sizes)] if sizes else None


def llc_size(root: Path = _SYSFS) -> tuple[int, str]:
    """(bytes, source) of the last-level cache: sysfs, else ``lscpu``, else an assumption."""
    size = _from_sysfs(root)
    if size:
        return size, f"sysfs {root}/index*/size"
    size = _from_lscpu()
    if size:
        return size, "lscpu -B"
    return FALLBACK_LLC_BYTES, "assumed (sysfs and lscpu say nothing)"


class CpuFlush:
    """Writes (reads and increments) a buffer of ``2 x LLC`` bytes: every cache level evicted."""

    def __init__(self, llc_bytes: int | None = None, source: str = "") -> None:
        if llc_bytes is None:
            llc_bytes, source = llc_size()
        self.llc_bytes = llc_bytes
        self.nbytes = 2 * llc_bytes
        self.source = f"2 x LLC {llc_bytes} B ({source})"
        self.buffer = np.zeros(self.nbytes // 8, dtype=np.int64)

    def __call__(self) -> None:
        self.buffer += 1


__all__ = ["CpuFlush", "llc_size"]
