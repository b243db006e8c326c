"""Plots for the report (matplotlib, Agg backend): PNG files written next to the markdown.

* ``<stem>-cost-<setting>.png``: cost relative to ReLU per backend, one row of panels per pass,
  at the largest shape of the setting; left against the same backend's ReLU (with the
  per-round quartiles as error bars), right against the fastest ReLU of any backend.
* ``<stem>-size-<setting>.png``: time per call against tensor size on log–log axes, one line
  per activation × backend, with the time of a plain copy of the tensor (the bandwidth ceiling)
  drawn as a dashed line. Written only for settings with a sweep of sizes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gembench.report.frames import SERIES, pass_order

#: at most this many settings get their own PNG of each kind.
MAX_FIGURES = 8
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_STYLES = ["-", "--", "-.", ":"]


def _slug(parts: list[Any]) -> str:
    text = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "all"


def _settings(df: pd.DataFrame) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    out = []
    for key, sub in df.groupby(SERIES, sort=True, dropna=False):
        out.append((dict(zip(SERIES, key, strict=True)), sub))
    return out


def _setting_title(s: dict[str, Any], varying: list[str]) -> str:
    parts = [f"{s['device']}", f"{s['dtype']}"]
    parts += [f"{k}={s[k]}" for k in varying if k not in ("device", "dtype")]
    return ", ".join(parts)


def _varying(df: pd.DataFrame) -> list[str]:
    return [c for c in SERIES if df[c].nunique(dropna=False) > 1]


def _label_order(labels: list[str]) -> list[str]:
    return sorted(set(labels), key=lambda s: (s != "relu", s))


def cost_plot(sub: pd.DataFrame, title: str, path: Path) -> Path:
    """Grouped bars: x = activation, one bar per backend; one row per pass; left column the
    same-backend ratio, right column the ratio to the fastest ReLU of any backend.
    ``sub`` holds one setting's rows of the report's cost frame."""
    top = sub[sub["numel"] == sub["numel"].max()]
    passes = pass_order(top["pass"])
    backends = sorted(set(top["backend"]))
    labels = _label_order(list(top["label"]))
    panel_w = min(11.0, 2.5 + 0.3 * len(labels) * max(1, len(backends)) ** 0.5)
    fig, axes = plt.subplots(len(passes), 2, figsize=(2 * panel_w + 1.5, 2.9 * len(passes) + 1.4),
                             squeeze=False, sharex=True)
    width = 0.8 / max(1, len(backends))
    x = np.arange(len(labels))
    colors = plt.get_cmap("tab10")
    kinds = (("ratio", "ratio_q1", "ratio_q3", "× ReLU on the same backend"),
             ("cross", "cross_q1", "cross_q3", "× fastest ReLU of any backend"))
    for i, p in enumerate(passes):
        pp = top[top["pass"] == p]
        for j, (col, lo, hi, kind) in enumerate(kinds):
            ax = axes[i][j]
            for b, be in enumerate(backends):
                d = pp[pp["backend"] == be].set_index("label")

                def column(name: str, d: pd.DataFrame = d) -> np.ndarray:
                    return np.array([d[name].get(lab, np.nan) if lab in d.index else np.nan
                                     for lab in labels], dtype=float)

                vals, q1, q3 = column(col), column(lo), column(hi)
                err = np.nan_to_num(np.vstack([np.clip(vals - q1, 0, None),
                                               np.clip(q3 - vals, 0, None)]))
                ax.bar(x + (b - (len(backends) - 1) / 2) * width, vals, width,
                       yerr=err, capsize=2, label=be, color=colors(b % 10))
            ax.axhline(1.0, color="black", linewidth=0.8)
            finite = pp[[col]].to_numpy(dtype=float)
            finite = finite[np.isfinite(finite) & (finite > 0)]
            if finite.size and finite.max() / max(finite.min(), 1e-12) > 20:
                ax.set_yscale("log")
            ax.set_ylabel(f"{p.replace('_', '+')}: × ReLU", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            if i == 0:
                ax.set_title(kind, fontsize=10)
            ax.set_xticks(x)
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes[0][-1].legend(title="backend", fontsize=8, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0))
    shape = top["shape"].iloc[0] if len(top) else "?"
    fig.suptitle(f"Cost relative to ReLU ({title}; shape {shape}); bars: median, "
                 "whiskers: q1–q3", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def size_plot(sub: pd.DataFrame, title: str, path: Path) -> Path:
    """Time per call against elements, log–log, one line per activation × backend, the copy
    of the same tensor dashed in black; one panel per pass."""
    passes = pass_order(sub["pass"])
    labels = _label_order(list(sub["label"]))
    backends = sorted(set(sub["backend"]))
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(passes), figsize=(5.0 * len(passes), 5.2),
                             squeeze=False)
    for j, p in enumerate(passes):
        ax = axes[0][j]
        pp = sub[sub["pass"] == p]
        for li, lab in enumerate(labels):
            for bi, be in enumerate(backends):
                d = pp[(pp["label"] == lab) & (pp["backend"] == be)].sort_values("numel")
                if d.empty:
                    continue
                ax.plot(d["numel"], d["median"], color=colors(li % 10),
                        linestyle=_STYLES[bi % len(_STYLES)],
                        marker=_MARKERS[bi % len(_MARKERS)], markersize=4,
                        label=f"{lab} / {be}")
        copy = pp.groupby("numel")["copy_median"].median().dropna()
        if len(copy):
            ax.plot(copy.index, copy.values, color="black", linestyle="--", linewidth=1.5,
                    label="copy of the tensor (bandwidth ceiling)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("elements")
        ax.set_ylabel("median time per call (s)")
        ax.set_title(p.replace("_", "+"))
        ax.grid(which="both", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.suptitle(f"Time against tensor size ({title})", fontsize=10)
    fig.tight_layout()
    fig.legend(handles, names, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_plots(costs: pd.DataFrame, cases: list[Any], out_dir: Path,
                stem: str, ext: str = "png") -> tuple[list[tuple[str, Path]], list[str]]:
    """Write the plots (``ext``: png or svg) for the report's cost frame; return
    ``[(title, path)]`` and notes on plots not drawn (e.g. no size sweep)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: list[tuple[str, Path]] = []
    notes: list[str] = []
    df = costs[np.isfinite(costs["median"].astype(float))] if len(costs) else costs
    if df.empty:
        return plots, ["No plots: no case ran successfully."]
    varying = _varying(df)
    settings = _settings(df)
    if len(settings) > MAX_FIGURES:
        notes.append(f"Plots for the first {MAX_FIGURES} of {len(settings)} settings only.")
        settings = settings[:MAX_FIGURES]
    for s, sub in settings:
        title = _setting_title(s, varying)
        slug = _slug([s["device"], s["dtype"], *(s[k] for k in varying
                                                 if k not in ("device", "dtype"))])
        path = cost_plot(sub, title, out_dir / f"{stem}-cost-{slug}.{ext}")
        plots.append((f"Cost relative to ReLU per backend ({title})", path))
    swept = False
    for s, sub in settings:
        if sub["numel"].nunique() < 2:
            continue
        swept = True
        title = _setting_title(s, varying)
        slug = _slug([s["device"], s["dtype"], *(s[k] for k in varying
                                                 if k not in ("device", "dtype"))])
        path = size_plot(sub, title, out_dir / f"{stem}-size-{slug}.{ext}")
        plots.append((f"Time against tensor size ({title})", path))
    if not swept:
        notes.append("No size plot: every setting has a single tensor size (no sweep of "
                     "sizes in these results).")
    return plots, notes


__all__ = ["cost_plot", "size_plot", "write_plots"]
