"""The backend registry: every name gembench knows (built-in, ``GEMBENCH_BACKENDS``, registered
implementations, plugins that failed to load) and the instance for it in this process.
Anything that cannot load here is still listed, as an unavailable backend with its reason."""

from __future__ import annotations

import importlib
import os
import re

from gembench.backends import plugins
from gembench.backends.base import Backend, UnavailableBackend
from gembench.backends.builtin import BACKEND_CLASSES, TITLES

ENV_BACKENDS = "GEMBENCH_BACKENDS"
_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")

#: backend name -> the instance made for it in this process
_instances: dict[str, Backend] = {}


def env_backends() -> dict[str, str]:
    """``GEMBENCH_BACKENDS="name=package.module:Class,..."``: backends that live outside
    gembench (worker processes inherit the variable). A malformed item keeps its text as name,
    so that it is listed (as unavailable) rather than ignored."""
    out: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in os.environ.get(ENV_BACKENDS, "").split(","))):
        name, eq, target = item.partition("=")
        out[name.strip() if eq and name.strip() else item] = target.strip() if eq else ""
    return out


def _classes() -> dict[str, str]:
    return {**BACKEND_CLASSES, **env_backends()}


def _load_class(name: str, target: str) -> Backend:
    """Instantiate ``module:Class``; any mistake becomes an unavailable backend with a reason."""
    if name not in BACKEND_CLASSES and not _TARGET.match(target):
        return UnavailableBackend(name, f"{ENV_BACKENDS} item {name}={target}: expected "
                                        "name=package.module:Class")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return UnavailableBackend(name, f"cannot import: {exc}")
    except Exception as exc:
        return UnavailableBackend(name, f"importing {module_name} raised "
                                        f"{type(exc).__name__}: {exc}")
    cls = getattr(module, cls_name, None)
    if cls is None:
        return UnavailableBackend(name, f"{module_name} has no attribute {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        return UnavailableBackend(name, f"{target} is {cls!r}, not a gembench Backend subclass")
    try:
        return cls()
    except Exception as exc:
        return UnavailableBackend(name, f"{target}() raised {type(exc).__name__}: {exc}")


def backend(name: str) -> Backend:
    """Return the named backend (an unavailable stand-in if it cannot load here)."""
    if name not in _instances:
        plugins.discover()
        classes = _classes()
        if name in classes:
            _instances[name] = _load_class(name, classes[name])
        elif name in plugins.REGISTRY:
            from gembench.backends.plugin_backend import PluginBackend

            _instances[name] = PluginBackend(plugins.REGISTRY[name])
        elif name in plugins.FAILED:
            _instances[name] = UnavailableBackend(name, plugins.FAILED[name])
        else:
            raise ValueError(f"unknown backend {name!r}; expected one of "
                             f"{', '.join(backend_names())}")
    return _instances[name]


def title(name: str) -> str:
    """How reports name backend ``name`` in a sentence (:data:`TITLES`, else the name)."""
    return TITLES.get(name, name)


def backend_names() -> list[str]:
    """Names of every backend gembench knows (available here or not): built-in, from
    ``GEMBENCH_BACKENDS``, registered implementations and plugins that failed to load."""
    plugins.discover()
    names = dict.fromkeys([*_classes(), *plugins.REGISTRY, *plugins.FAILED])
    return list(names)
