"""One self-contained HTML page of one or more runs: ``gembench report RESULTS... --html FILE``.

Everything is inline (styles, a small sorting script, the plots as SVG drawn by matplotlib), so
the page needs no network when viewed. In order: the verdict, history over runs of the same
suite (when there are several), the cost, block, accuracy and problem tables (click a column
header to sort), the plots, the environment.
"""

from __future__ import annotations

import html
import math
import tempfile
from pathlib import Path
from typing import Any

from gembench.report import fmt, verdict
from gembench.report.facts import run_facts
from gembench.report.frames import all_frame, cost_frame
from gembench.report.history import Machine, history
from gembench.report.tables import (
    accuracy_frame,
    accuracy_table,
    block_rows,
    block_table,
    cost_table,
    html_table,
)
from gembench.results import CaseRecord
from gembench.results.loading import Run, merged_cases, read_all, read_notes
from gembench.results.paths import check_out_file, write_whole

#: a cell: its text, or (text, value to sort by[, css class]).

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;
color:#1b1b1b}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #d0d0d0;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.busy td{background:#fff6d5}.slower{color:#b00020;font-weight:bold}
.faster{color:#006b2e;font-weight:bold}.note{color:#555}
.warn{background:#fde2e1;border:1px solid #b00020;padding:.4em .6em;font-weight:bold}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
"""

SCRIPT = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-v');
    if (v !== null && v !== '' && !isNaN(Number(v))) { return [0, Number(v), '']; }
    var t = td.textContent.trim();
    return [t === '\\u2013' ? 2 : 1, 0, t];
  }
  function cmp(a, b) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    if (a[0] === 0) { return a[1] - b[1]; }
    return a[2].localeCompare(b[2], undefined, {numeric: true});
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = cmp(key(r1.cells[i]), key(r2.cells[i]));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""


def _verdict(v: verdict.Verdict) -> list[str]:
    out = ["<h2 id=verdict-heading>Verdict</h2>"]
    if v.empty:
        out.append("<p>No case ran successfully: no verdict.</p>")
    out += [f"<p>{html.escape(s)}</p>" for s in verdict.sentences(v)]
    if v.rows:
        rows = [[r.device, r.dtype, r.cache, fmt.fmt_pass(r.pass_), r.shape, r.label, r.backend,
                 (verdict.cell(r), r.ratio), (fmt.fmt_pct(r.bandwidth_fraction),
                                              r.bandwidth_fraction),
                 (f"{r.saved_ratio:.2f}×" if math.isfinite(r.saved_ratio) else "–",
                  r.saved_ratio), r.accuracy] for r in v.rows]
        out += [f"<p class=note>Each activation's best implementation against the fastest ReLU "
                f"on the device (interval: {html.escape(v.interval)}); highlighted rows were "
                "measured on a busy machine.</p>",
                html_table("verdict", ["device", "dtype", "cache", "pass", "shape", "activation",
                                  "best implementation", "× fastest ReLU", "of copy BW",
                                  "saved for backward (× input)", "accuracy"], rows,
                      ["busy" if r.busy else "" for r in v.rows])]
    if v.blocks:
        rows = [[b.preset, b.device, b.dtype, b.cache, fmt.fmt_pass(b.pass_), b.label, b.backend,
                 (verdict.cell(b), b.ratio), (fmt.fmt_pct(b.share), b.share)] for b in v.blocks]
        out.append(html_table("verdict-blocks", ["preset", "device", "dtype", "cache", "pass",
                                            "activation", "best implementation",
                                            "× fastest ReLU block", "activation share"], rows,
                         ["busy" if b.busy else "" for b in v.blocks]))
    out += [f"<p>{html.escape(p)}</p>" for p in verdict.problems(v)]
    return out


def _history(machines: list[Machine]) -> list[str]:
    if not machines:
        return []
    out = ["<h2>History</h2>", "<p class=note>Each case's ratio to ReLU (same backend, "
           "per-round median and quartiles) over runs, oldest first (labelled commit and start "
           "time); <span class=slower>▲</span>/<span class=faster>▼</span>: the time changed "
           "between that run and the one before in a way that passes <code>gembench compare"
           "</code>'s test (threshold and Mann–Whitney U).</p>"]
    for k, m in enumerate(machines):
        rows = []
        for cid, points in sorted(m.cases.items()):
            row: list[Any] = [cid]
            for p in points:
                if p is None:
                    row.append("–")
                    continue
                arrow = {"slower": " ▲", "faster": " ▼"}.get(p.mark, "")
                row.append((fmt.fmt_ratio_spread(p.ratio, p.low, p.high) + arrow, p.ratio, p.mark))
            rows.append(row)
        out += [f"<h3>{html.escape(m.name)}</h3>",
                html_table(f"history-{k}", ["case", *m.runs], rows)]
    return out


def _costs(costs: Any) -> list[str]:
    if costs.empty:
        return ["<h2>Cost relative to ReLU</h2><p>No case ran successfully.</p>"]
    setting = ["context", "device", "dtype", "cache", "shape", "pass"]
    return ["<h2>Cost relative to ReLU</h2>", cost_table(costs, setting).html("costs")]


def _blocks(costs: Any, cases: dict[str, CaseRecord]) -> list[str]:
    blocks = block_rows(costs)
    if blocks.empty:
        return []
    return ["<h2>Blocks</h2>", block_table(blocks, cases).html("blocks")]


def _accuracy_and_problems(frame: Any) -> list[str]:
    acc = accuracy_frame(frame)
    out = []
    if not acc.empty:
        out += ["<h2>Accuracy</h2>", accuracy_table(acc).html("accuracy")]
    bad = frame[frame["status"].isin(["failed", "skipped"])]
    if len(bad):
        rows = [[r["status"], r["case_id"], str(r["reason"] or "(no reason recorded)")]
                for _, r in bad.sort_values(["status", "case_id"]).iterrows()]
        out += ["<h2>Failed and skipped cases</h2>",
                html_table("problems", ["status", "case", "reason"], rows)]
    return out


def _plots(costs: Any, cases: list[CaseRecord]) -> list[str]:
    from gembench.report.plots import write_plots

    out = ["<h2>Plots</h2>"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plots, notes = write_plots(costs, cases, Path(tmp), "plot", ext="svg")
        except Exception as exc:  # a plot must never cost the report
            plots, notes = [], [f"plots failed: {type(exc).__name__}: {exc}"]
        for title, path in plots:
            svg = path.read_text(encoding="utf-8")
            svg = svg[svg.index("<svg"):]
            out.append(f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>")
    return out + [f"<p class=note>{html.escape(n)}</p>" for n in notes]


def _environment(runs: list[Run]) -> list[str]:
    facts = [run_facts(*r) for r in runs]
    rows = [[k, *(f[k] for f in facts)] for k in facts[0]]
    return ["<h2>Environment</h2>", html_table("environment", [
        "", *(f"run {i + 1}" for i in range(len(runs)))], rows)]


def build_html(runs: list[Run]) -> str:
    """The page of ``runs`` (the latest record of each case in the tables; every run in the
    history)."""
    runs = sorted(runs, key=lambda r: str(r.run.started or ""))
    cases = merged_cases(runs)
    costs = cost_frame(cases)
    names = ", ".join(dict.fromkeys(str(r.suite or "?") for _, r, _ in runs))
    body = [f"<h1>gembench report: {html.escape(names)}</h1>",
            *(f"<p class=warn role=alert>Warning: {html.escape(n)}</p>" for n in read_notes(runs)),
            *_verdict(verdict.build_verdict(cases, costs)), *_history(history(runs)),
            *_costs(costs), *_blocks(costs, {c.case_id: c for c in cases}),
            *_accuracy_and_problems(all_frame(cases)),
            *_plots(costs, cases), *_environment(runs)]
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<link rel=icon href=\"data:,\">"
            f"<title>gembench report: {html.escape(names)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + f"\n<script>{SCRIPT}</script></body></html>\n")


def write_html(results: list[Path], out: Path) -> Path:
    """Write the HTML page of ``results`` (results files or run directories) to ``out``
    (whole: a temporary file renamed into place)."""
    out = Path(out)
    check_out_file(out, results, "--html")  # never over a results file, before any work
    runs = read_all(results)
    write_whole(out, build_html(runs).encode("utf-8", "xmlcharrefreplace"), "--html")
    return out


__all__ = ["build_html", "write_html"]
