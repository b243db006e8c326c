"""The report's tables, built once: each column says its header, its cell text and (for
sorting in HTML) its numeric value; a :class:`Table` renders to markdown, to plain text and to
a sortable HTML table. The cost, block and accuracy tables of the markdown and HTML reports
are the same :class:`Table` objects."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gembench.report.fmt import (
    fmt_eps,
    fmt_pass,
    fmt_pct,
    fmt_ratio,
    fmt_ratio_spread,
    fmt_share,
    fmt_time,
    md_table,
    text_table,
)
from gembench.report.frames import order
from gembench.results import CaseRecord
from gembench.results.records import Memory

Row = Any  # a pandas row (Series) or a dict: anything indexed by column name


@dataclass(frozen=True)
class Column:
    """A column: ``header``, ``text(row)`` the cell, ``value(row)`` the number it sorts by."""

    header: str
    text: Callable[[Row], str]
    value: Callable[[Row], Any] | None = None


def plain(name: str, header: str | None = None) -> Column:
    """A column showing the row's ``name`` as it is."""
    return Column(header or name, lambda r: str(r[name]))


@dataclass
class Table:
    """Rows under columns; ``row_class(row)``: an HTML class for the row (e.g. ``busy``)."""

    columns: Sequence[Column]
    rows: Sequence[Row]
    row_class: Callable[[Row], str] | None = None

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def cells(self) -> list[list[str]]:
        return [[c.text(r) for c in self.columns] for r in self.rows]

    def markdown(self) -> str:
        return md_table(self.cells(), self.headers)

    def text(self) -> str:
        return text_table(self.cells(), self.headers)

    def html(self, table_id: str) -> str:
        rows = [[(c.text(r), c.value(r) if c.value else math.nan) for c in self.columns]
                for r in self.rows]
        classes = [self.row_class(r) for r in self.rows] if self.row_class else None
        return html_table(table_id, self.headers, rows, classes)


Cell = str | tuple[str, Any] | tuple[str, Any, str]


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def html_table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
               row_classes: Sequence[str] | None = None) -> str:
    """A sortable HTML table; a cell is its text or ``(text, value[, class])``, and numeric
    cells carry their value in ``data-v``."""
    head = "".join(f"<th scope=col>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for cell in row:
            text, value, cls = (*cell, "")[:3] if isinstance(cell, tuple) else (cell, math.nan,
                                                                                 "")
            value = _num(value)
            num = math.isfinite(value)
            classes = " ".join(c for c in ("num" if num else "", cls) if c)
            attrs = (f' class="{classes}"' if classes else "") + (
                f' data-v="{value:.12g}"' if num else "")
            cells.append(f"<td{attrs}>{html.escape(str(text))}</td>")
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        body.append(f"<tr{f' class={cls}' if cls else ''}>{''.join(cells)}</tr>")
    return (f'<table class=sortable id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


# ---------------------------------------------------------------------------- shared columns

def _busy(r: Row) -> str:
    return " (busy)" if bool(r["busy"]) else ""


ACTIVATION = Column("activation", lambda r: r["label"] + _busy(r))
RATIO = Column("× ReLU, same backend (q1–q3)",
               lambda r: fmt_ratio_spread(r["ratio"], r["ratio_q1"], r["ratio_q3"]),
               lambda r: r["ratio"])
CROSS = Column("× fastest ReLU (q1–q3)",
               lambda r: fmt_ratio_spread(r["cross"], r["cross_q1"], r["cross_q3"]),
               lambda r: r["cross"])
FASTEST = Column("fastest ReLU", lambda r: f"{r['best_backend']} {fmt_time(r['best_median'])}"
                 if r["best_backend"] else "–")
MEDIAN = Column("median (IQR)", lambda r: fmt_time(r["median"], r["iqr"]), lambda r: r["median"])
COPY_BW = Column("of copy BW", lambda r: fmt_pct(r["bandwidth_fraction"]),
                 lambda r: r["bandwidth_fraction"])
PASS = Column("pass", lambda r: fmt_pass(r["pass"]))


def cost_table(df: pd.DataFrame, setting: Sequence[str]) -> Table:
    """Every case against ReLU: ``setting`` the columns that tell settings apart."""
    cols = [*(PASS if c == "pass" else plain(c) for c in setting), ACTIVATION,
            plain("backend"), RATIO, CROSS, FASTEST, MEDIAN, COPY_BW]
    return Table(cols, [r for _, r in order(df).iterrows()],
                 lambda r: "busy" if r["busy"] else "")


def block_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of block contexts (those with a block median)."""
    return df[np.isfinite(df["block_median"].astype(float))] if len(df) else df


def block_table(blocks: pd.DataFrame, cases: dict[str, CaseRecord]) -> Table:
    """Block contexts: the block against the same block with ReLU, the activation's share, and
    saved and peak bytes against the ReLU block."""

    def memory(r: Row) -> Memory:
        return cases[r["case_id"]].memory or Memory()

    def times(x: float | None) -> str:
        return fmt_ratio(x) + "×" if x is not None else "–"

    cols = [
        plain("context"), Column("shape", lambda r: r["preset"] or r["shape"]), plain("dtype"),
        PASS, ACTIVATION, plain("backend"),
        Column("block median (IQR)", MEDIAN.text, MEDIAN.value),
        Column("× block with ReLU (q1–q3)", RATIO.text, RATIO.value),
        Column("× fastest ReLU block (of)", lambda r: f"{fmt_ratio(r['cross'])} "
               f"({r['best_backend']})" if r["best_backend"] else "–", lambda r: r["cross"]),
        Column("activation alone", lambda r: fmt_time(r["activation_median"])),
        Column("activation share (q1–q3)",
               lambda r: fmt_share(r["share"], r["share_q1"], r["share_q3"]),
               lambda r: r["share"]),
        Column("saved vs ReLU block", lambda r: times(memory(r).saved_vs_relu_block)),
        Column("peak vs ReLU block", lambda r: times(memory(r).peak_vs_relu_block)),
    ]
    return Table(cols, [r for _, r in order(blocks).iterrows()],
                 lambda r: "busy" if r["busy"] else "")


def accuracy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Largest forward and backward error per device, dtype, activation and backend, with the
    tolerances and whether either is over (cases that ran or failed)."""
    df = frame[frame["status"].isin(["ok", "failed"])]
    df = df[np.isfinite(df["forward_eps"].astype(float))
            | np.isfinite(df["backward_eps"].astype(float))]
    cols = ["device", "dtype", "activation", "label", "backend"]
    if df.empty:
        return pd.DataFrame(columns=[*cols, "forward_eps", "backward_eps", "forward_tol",
                                     "backward_tol", "over"])
    acc = df.groupby(cols, dropna=False).agg(
        forward_eps=("forward_eps", "max"), backward_eps=("backward_eps", "max"),
        forward_tol=("forward_tol", "last"), backward_tol=("backward_tol", "last")).reset_index()
    acc["over"] = (acc["forward_eps"] > acc["forward_tol"]) | (
        acc["backward_eps"] > acc["backward_tol"])
    return acc


def accuracy_table(acc: pd.DataFrame) -> Table:
    """:func:`accuracy_frame` as a table (the device column only when there are several)."""
    acc = acc.sort_values(["device", "dtype", "label", "backend"],
                          key=lambda s: s.map(lambda v: (v != "relu", v)) if s.name == "label"
                          else s, kind="stable")
    device = [plain("device")] if acc["device"].nunique() > 1 else []
    cols = [plain("dtype"), *device, plain("label", "activation"), plain("backend"),
            Column("max forward error (eps)", lambda r: fmt_eps(r["forward_eps"]),
                   lambda r: r["forward_eps"]),
            Column("max backward error (eps)", lambda r: fmt_eps(r["backward_eps"]),
                   lambda r: r["backward_eps"]),
            Column("tolerance fwd / bwd (eps)",
                   lambda r: f"{r['forward_tol']:g} / {r['backward_tol']:g}"),
            Column("verdict", lambda r: "OVER" if r["over"] else "ok")]
    return Table(cols, [r for _, r in acc.iterrows()])


__all__ = ["Column", "Table", "accuracy_frame", "accuracy_table", "block_rows", "block_table",
           "cost_table", "html_table", "plain"]
