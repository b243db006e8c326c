"""The environment of a run, captured once: what a reader needs to trust or reproduce it."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from gembench.engine.measuring.cache import llc_size

#: glibc settings that keep freed memory in the process instead of returning it to the OS:
#: without them a fresh 64 MB output costs page faults on every call and timings measure the
#: allocator, not the kernel.
CACHING_ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(4 * 1024**3),
    "MALLOC_TRIM_THRESHOLD_": str(4 * 1024**3),
}
ALLOCATOR_SETTINGS = {"default": {}, "caching": CACHING_ALLOCATOR_ENV}

_FLUCTUATING = {"hz_actual", "hz_actual_friendly", "hz_advertised", "hz_advertised_friendly"}
_PACKAGES = ["torch", "numpy", "scipy", "onnx", "onnxruntime", "triton", "pandas", "gembench"]


def allocator_environment(settings: list[str]) -> dict[str, dict[str, str]]:
    """Per allocator setting, the MALLOC_* variables its workers are started with (the
    runner's own MALLOC_* are removed first, see ``workers.worker_env``)."""
    return {name: dict(ALLOCATOR_SETTINGS[name]) for name in settings}


def cpu_info() -> dict[str, Any]:
    """py-cpuinfo's description without fields that change from call to call (clocks); probed
    once per process (it starts a subprocess, about a second), a fresh copy each call."""
    return dict(_probed_cpu())


@functools.lru_cache(maxsize=1)
def _probed_cpu() -> dict[str, Any]:
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception as exc:  # cpuinfo probes the machine; never let it stop a run
        return {"error": repr(exc)}
    return {k: v for k, v in info.items() if k not in _FLUCTUATING}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_info() -> dict[str, Any] | None:
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
        info: dict[str, Any] = {
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_bytes": props.total_memory,
            "l2_cache_bytes": getattr(props, "L2_cache_size", None),
            "cuda": torch.version.cuda,
        }
    except Exception as exc:
        return {"error": repr(exc)}
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        info["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        info["driver"] = None
    return info


def git_commit(where: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(where), *args], capture_output=True,
                                 text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def capture(suite_path: Path | None = None) -> dict[str, Any]:
    """Everything about this machine and checkout that a results file must carry."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    env = {
        "cpu": cpu_info(),
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "gpu": gpu_info(),
        "git": git_commit(Path(__file__).resolve().parent),
        "allocator_env_of_runner": {k: os.environ.get(k) for k in CACHING_ALLOCATOR_ENV},
        "llc": dict(zip(("bytes", "source"), llc_size(), strict=True)),
        "hostname": platform.node(),
    }
    if suite_path is not None:
        env["suite"] = {"path": str(suite_path), "sha256": file_sha256(suite_path)}
    return env
