"""A plugin module that raises at import (tests/test_plugins.py)."""

raise RuntimeError("broken on purpose")
