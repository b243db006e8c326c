"""A GEMBENCH_BACKENDS module that raises at import (tests/test_plugins.py)."""

raise RuntimeError("backend broken on purpose")
