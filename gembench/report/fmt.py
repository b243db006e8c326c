"""Formatting of figures for reports and terminals: ratios, times, bytes, tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_ratio(x: float | None) -> str:
    """``"1.52"``; ``"152"`` from 100 up; ``"–"`` when missing."""
    if not _finite(x):
        return "–"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"


def fmt_ratio_spread(med: float | None, lo: float | None, hi: float | None) -> str:
    """``"1.52 (1.49–1.55)"``: a ratio with its interval (quartiles or a confidence interval)."""
    if not _finite(med):
        return "–"
    if not (_finite(lo) and _finite(hi)):
        return fmt_ratio(med)
    return f"{fmt_ratio(med)} ({fmt_ratio(lo)}–{fmt_ratio(hi)})"


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit that shows ``seconds`` best, and its scale."""
    if seconds < 1e-6:
        return "ns", 1e9
    if seconds < 1e-3:
        return "µs", 1e6
    if seconds < 1.0:
        return "ms", 1e3
    return "s", 1.0


def sig(v: float, digits: int) -> str:
    """``v`` to about ``digits`` significant digits, in plain (not exponent) notation."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def fmt_time(seconds: float | None, iqr: float | None = None) -> str:
    """``"237.8 µs (IQR 27.1)"``: a median and its interquartile range in the same unit."""
    if not _finite(seconds):
        return "–"
    unit, scale = time_unit(seconds)
    text = f"{sig(seconds * scale, 4)} {unit}"
    if _finite(iqr):
        text += f" (IQR {sig(iqr * scale, 3)})"
    return text


def fmt_bytes(n: float | None) -> str:
    """``"1.5 MiB"``."""
    if not _finite(n):
        return "–"
    n = float(n)
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_pct(x: float | None) -> str:
    """``"97%"``; one decimal below 1%."""
    if not _finite(x):
        return "–"
    return f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"


def fmt_share(med: float | None, q1: float | None, q3: float | None) -> str:
    """``"19% (14–22%)"``: a share of a block's time with its quartiles."""
    if not _finite(med):
        return "–"
    if not (_finite(q1) and _finite(q3)):
        return f"{med:.0%}"
    return f"{med:.0%} ({q1 * 100:.0f}–{q3:.0%})"


def fmt_eps(x: float | None) -> str:
    """An error in units of epsilon, 3 significant digits."""
    if not _finite(x):
        return "–"
    return f"{x:.3g}"


def fmt_pass(p: Any) -> str:
    """``forward_backward`` -> ``forward+backward``."""
    return str(p).replace("_", "+")


def shape_text(shape: Any) -> str:
    """``[256, 3072]`` -> ``"256x3072"``."""
    if isinstance(shape, (list, tuple)):
        return "x".join(str(s) for s in shape)
    return str(shape)


def cell(v: Any) -> str:
    """A table cell: one line, pipes escaped (tabulate's github format does not escape)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return str(v).replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured markdown table."""
    return tabulate([[cell(v) for v in r] for r in rows], headers=[cell(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def text_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain terminal table."""
    return tabulate([[cell(v) for v in r] for r in rows], headers=list(headers),
                    disable_numparse=True)


def summarize_values(values: Any, what: str, limit: int = 3) -> str:
    """The distinct values, or ``"N what"`` when more than ``limit``."""
    vals = sorted({str(v) for v in values}, key=lambda s: (len(s), s))
    if len(vals) <= limit:
        return ", ".join(vals)
    return f"{len(vals)} {what}"


__all__ = ["cell", "fmt_bytes", "fmt_eps", "fmt_pass", "fmt_pct", "fmt_ratio",
           "fmt_ratio_spread", "fmt_share", "fmt_time", "md_table", "shape_text", "sig",
           "summarize_values", "text_table", "time_unit"]
