"""``python -m gembench``: see :mod:`gembench.cli`."""

from .cli import main

raise SystemExit(main())
