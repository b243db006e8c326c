"""Memory: bytes saved for backward (measured through autograd's saved-tensor hooks) and the
peak memory of a pass."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


def saved_for_backward(forward: Callable[[], Any], x: Any) -> dict[str, Any]:
    """Run ``forward()`` (which must use ``x``, requiring grad) under saved-tensor hooks.

    Returns bytes saved for backward de-duplicated by storage, and the parts of it that merely
    alias the input or the output (kept alive anyway by the caller in a training step).
    """
    import torch

    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = forward()
    x_ptr = x.untyped_storage().data_ptr()
    y_ptr = y.untyped_storage().data_ptr() if isinstance(y, torch.Tensor) else None
    total = sum(storages.values())
    return {
        "saved_bytes": total,
        "saved_bytes_input_alias": storages.get(x_ptr, 0),
        "saved_bytes_output_alias": storages.get(y_ptr, 0) if y_ptr is not None else 0,
        "saved_tensors": len(storages),
        "saved_source": "measured (saved_tensors_hooks, unique storages)",
    }


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _trim_heap() -> None:
    """Make reused heap memory show as resident-memory growth for one measurement.

    A long-lived worker's heap holds memory freed by earlier calls (all the more under the
    caching setting, which never returns it), and reusing it would not grow the resident set.
    ``malloc_trim(0)`` hands the free pages inside the heap back to the OS (madvise), so the
    measured call faults them in again. The allocator's settings are left alone: ``mallopt``
    cannot restore a 4 GiB mmap threshold (its argument is a C int, and glibc caps it), and a
    changed threshold would spoil every later timing in the worker.
    """
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_of(fn: Callable[[], Any], device: str) -> dict[str, Any]:
    """Peak memory one call of ``fn`` adds above what was in use before it.

    CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the call.
    CPU: growth of the process's resident high-water mark (VmHWM, reset through
    /proc/self/clear_refs) over the call, after returning the heap's free memory to the OS so
    that reused memory shows as growth (see :func:`_trim_heap`).
    """
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        result = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del result
        return {"peak_bytes": int(peak), "peak_source": "cuda max_memory_allocated - baseline"}
    _trim_heap()
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return {"peak_bytes": None, "peak_source": "unavailable (no /proc/self/clear_refs)"}
    rss0 = _status_kb("VmRSS")
    result = fn()
    hwm = _status_kb("VmHWM")
    del result
    if rss0 is None or hwm is None:
        return {"peak_bytes": None, "peak_source": "unavailable (no /proc/self/status)"}
    return {"peak_bytes": max(0, hwm - rss0) * 1024,
            "peak_source": "process VmHWM growth over one call, heap trimmed first (CPU)"}
