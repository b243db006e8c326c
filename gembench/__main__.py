"""``python -m gembench``: see :mod:`gembench.cli`."""

from gembench.cli import main

raise SystemExit(main())
