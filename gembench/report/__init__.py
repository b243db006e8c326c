"""Reports: markdown tables, plots and the terminal summary of results files."""

from __future__ import annotations

from gembench.report.markdown import ResultsError, build_report, write_report

__all__ = ["ResultsError", "build_report", "write_report"]
