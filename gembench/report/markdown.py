"""Markdown report of one or more results files.

The report has, in order: the verdict (:mod:`gembench.report.verdict`); the environment of each
run; per pass a table of cost relative to ReLU; blocks; memory; accuracy; failed and skipped
cases; facts the backends recorded; plots (PNG files written next to the report by
:mod:`gembench.report.plots`).

Two ratios to ReLU are given for every case, because each answers a different question:

* **× ReLU, same backend**: the median of per-round ratios case/ReLU, the two timed interleaved
  round by round on the same backend, with the quartiles of those per-round ratios.
* **× fastest ReLU**: the case's median divided by the fastest ReLU of *any* backend in the
  same setting (:func:`gembench.report.frames.best_relu`).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from gembench.report import facts, sections, verdict
from gembench.report.frames import all_frame, cost_frame
from gembench.results import CaseRecord, ResultsError
from gembench.results.loading import Run, merged_cases, read_all, read_notes

#: tables after the verdict with more rows than this are folded (``<details>``).
FOLD_ROWS = 20
#: environment variable: the directory of reports written without ``--out`` (default reports/).
REPORT_DIR_ENV = "GEMBENCH_REPORT_DIR"


def _stamp(started: str | None) -> str:
    if started:
        try:
            return datetime.fromisoformat(started).strftime("%Y%m%d-%H%M%S")
        except ValueError:
            pass
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def default_report_path(runs: list[Run], suffix: str = ".md") -> Path:
    """``reports/<suite>-<run start>.md`` (suites joined with ``+`` for several runs); the
    directory is ``$GEMBENCH_REPORT_DIR`` where set (the tests point it at a temporary one)."""
    names = list(dict.fromkeys(str(run.suite or "run") for _, run, _ in runs))
    safe = "".join(ch if ch.isalnum() or ch in "-_+." else "_" for ch in "+".join(names))
    folder = Path(os.environ.get(REPORT_DIR_ENV) or "reports")
    return folder / f"{safe}-{_stamp(runs[0].run.started)}{suffix}"


def _plot_lines(costs: Any, cases: list[CaseRecord], out: Path) -> list[str]:
    lines = ["## Plots", ""]
    try:
        from gembench.report.plots import write_plots

        plots, notes = write_plots(costs, cases, out.parent, out.stem)
    except Exception as exc:  # a plot must never cost the report
        plots, notes = [], [f"plots failed: {type(exc).__name__}: {exc}"]
        print(f"gembench: warning: {notes[0]}", file=sys.stderr)
    for title, path in plots:
        lines += [f"- [{title}]({path.name})", "", f"![{title}]({path.name})", ""]
    lines += [f"- {n}" for n in notes]
    if not plots and not notes:
        lines.append("No plots: nothing ran.")
    return [*lines, ""]


def build_report(runs: list[Run], out: Path) -> str:
    """The markdown text; plots are written next to ``out`` (as ``<stem>-*.png``)."""
    cases = merged_cases(runs)
    costs = cost_frame(cases)
    by_id = {c.case_id: c for c in cases}
    names = ", ".join(dict.fromkeys(str(r.suite or "?") for _, r, _ in runs))
    lines = [f"# gembench report: {names}", ""]
    lines += [f"**Warning: {note}**\n" for note in read_notes(list(runs))]
    lines += verdict.markdown(verdict.build_verdict(cases, costs))
    if any(run.likeness for _, run, _ in runs):  # the suite asked: beside the verdict's costs
        rows = sections.likeness_rows(cases)
        lines = [*lines[:-1], *sections.likeness_verdict(rows), "",
                 *sections.likeness_section(rows)]
    answer = len(lines)  # the verdict (and likeness): never folded
    lines += facts.environment_section(runs)
    lines += sections.HOW_TO_READ
    lines += sections.cost_section(costs)
    lines += sections.block_section(costs, by_id)
    lines += sections.memory_section(costs, by_id)
    lines += sections.accuracy_section(all_frame(cases))
    lines += facts.problem_section(cases)
    backend = facts.graph_facts(cases) + facts.backend_facts(cases)
    if backend:
        lines += ["## Backend facts", "", *backend]
    lines += facts.trace_section(cases, out.parent)
    lines += _plot_lines(costs, cases, out)
    return "\n".join([*lines[:answer], fold_tables("\n".join(lines[answer:]))])


def fold_tables(text: str, limit: int = FOLD_ROWS) -> str:
    """``text`` with every markdown table of more than ``limit`` rows folded in a
    ``<details>`` block that says how many rows it holds (the prose around stays open)."""
    out: list[str] = []
    table: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        rows = len(table) - 2  # header and separator
        if rows > limit:
            out += [f"<details><summary>show the table ({rows} rows)</summary>", "", *table, "",
                    "</details>"]
        else:
            out += table
        table = []
        out.append(line)
    return "\n".join(out[:-1])


def write_report(results: list[Path], out: Path | None = None) -> Path:
    """Write the markdown report of ``results`` (results files or run directories) and its
    plots; return the report's path (default ``reports/<suite>-<run start>.md``)."""
    runs = read_all(results)
    path = Path(out) if out is not None else default_report_path(runs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(runs, path), encoding="utf-8")
    return path


__all__ = ["ResultsError", "build_report", "default_report_path", "write_report"]
