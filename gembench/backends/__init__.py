"""Backend registry: each backend lives in its own module and registers one class.

Modules are imported lazily. Besides the built-in backends (:data:`BACKEND_CLASSES`) the
registry holds backends named in ``GEMBENCH_BACKENDS`` and implementations registered from
outside gembench (:mod:`gembench.backends.plugins`). Anything that cannot load here (a missing
package, a wrong ``module:Class``, a module that raises at import) is still listed, as an
unavailable backend whose reason says what went wrong; its cases are skipped, never a crash.
"""

from __future__ import annotations

from gembench.backends.base import Availability, Backend, Kernel, Saved
from gembench.backends.builtin import BACKEND_CLASSES
from gembench.backends.plugins import register_implementation
from gembench.backends.registry import backend, backend_names

__all__ = ["BACKEND_CLASSES", "Availability", "Backend", "Kernel", "Saved", "backend",
           "backend_names", "register_implementation"]
