"""Reports of results files: the verdict, markdown, HTML, plots, exports, terminal summary.

Modules: ``runs`` (loading typed records), ``fmt`` (formatting), ``frames`` (the tables every
view is built from: one setting, one fastest-ReLU rule), ``verdict``, ``sections`` and
``facts`` (markdown sections), ``markdown``, ``html`` and ``history``, ``plots``, ``summary``
(terminal), ``export`` (dashboards), ``output`` (where a report may be written). Importing
the package imports none of them (``compare`` reads results without pandas or matplotlib).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("build_report", "write_report"):
        from gembench.report import markdown

        return getattr(markdown, name)
    raise AttributeError(name)


__all__ = ["build_report", "write_report"]
