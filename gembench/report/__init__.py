"""Reports of results files: the verdict, markdown, HTML, plots, exports, terminal summary.

Modules: ``fmt`` (formatting), ``frames`` (the tables every view is built from: one setting,
one fastest-ReLU rule), ``verdict``, ``sections`` and ``facts`` (markdown sections),
``markdown``, ``html``, ``plots``, ``summary`` (terminal), ``export`` (dashboards).
"""

from __future__ import annotations

from gembench.report.markdown import ResultsError, build_report, write_report

__all__ = ["ResultsError", "build_report", "write_report"]
