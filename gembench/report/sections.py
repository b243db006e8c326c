"""Markdown sections on the figures: cost relative to ReLU, blocks, memory, accuracy."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gembench.report.fmt import (
    fmt_bytes,
    fmt_pass,
    md_table,
)
from gembench.report.frames import largest, pass_order, varying
from gembench.report.tables import (
    accuracy_frame,
    accuracy_table,
    block_rows,
    block_table,
    cost_table,
)
from gembench.results import CaseRecord
from gembench.results.records import Memory

WHY_TWO_RATIOS = (
    "*Why two ratios:* **× ReLU, same backend** (interleaved per-round ratios) cancels machine "
    "drift but is relative to that backend's own ReLU, which can be slow: compiled GEM can look "
    "8× cheaper than its compiled \"ReLU\" and still cost 1.5× the best ReLU; **× fastest ReLU** "
    "(against the fastest ReLU of any backend here) is the cost you would actually pay for "
    "choosing it."
)

HOW_TO_READ = [
    "## How to read the cost tables", "",
    "- **× ReLU, same backend (q1–q3)**: median of the per-round ratios case/ReLU, the two "
    "timed interleaved round by round on the same backend; in brackets the quartiles of those "
    "per-round ratios.",
    "- **× fastest ReLU (q1–q3)**: the case against the fastest ReLU of any backend in the "
    "same setting (device, dtype, shape, pass, threads, allocator, cache state), named in "
    "*fastest ReLU*. Where the run timed the anchor ReLU (torch eager `torch.relu`) in the same "
    "rounds as every case, it is the chain case/anchor × anchor/fastest ReLU, each factor a "
    "per-round ratio (drift cancels), the fastest ReLU the one with the lowest ratio to the "
    "anchor, the quartiles those of the products over pairs of rounds. Otherwise (blocks, "
    "version-1 files) it is the ratio of the two medians, timed in different rounds, with the "
    "quartiles of the ratio of every case sample to every sample of that ReLU: wider than the "
    "same-backend spread, where drift cancels.",
    "- **median (IQR)**: time per call, with the interquartile range of the samples.",
    "- **of copy BW**: bytes the pass must move over its median time, as a fraction of the "
    "bandwidth of a plain copy of the same size timed alongside it (1 = as fast as memory "
    "allows).", "",
]


def cost_section(df: pd.DataFrame) -> list[str]:
    """One table per pass of every elementwise and block case against ReLU."""
    if df.empty:
        return ["## Cost relative to ReLU", "", "No case ran successfully: nothing to compare.", ""]
    out: list[str] = []
    setting = ["shape", "dtype", *varying(df)]
    for p in pass_order(df["pass"]):
        table = cost_table(df[df["pass"] == p], setting)
        out += [f"## Cost relative to ReLU: {fmt_pass(p)}", "", table.markdown(), "",
                WHY_TWO_RATIOS, ""]
    return out


def block_section(df: pd.DataFrame, cases: dict[str, CaseRecord]) -> list[str]:
    """Block contexts (MLP, conv block): how much of the block the activation costs."""
    blocks = block_rows(df)
    if blocks.empty:
        return []
    return ["## Block contexts", "", "The whole block with this activation, timed interleaved "
            "with the same block (same weights) using the backend's ReLU, and against the "
            "fastest ReLU block of any backend (the same rule as the cost tables); the "
            "activation alone at the shape it sees inside the block; its share is the median "
            "of per-round ratios activation/block.", "", block_table(blocks, cases).markdown(),
            ""]


def memory_section(df: pd.DataFrame, cases: dict[str, CaseRecord]) -> list[str]:
    """Saved-for-backward and peak bytes at the largest shape of each setting."""
    head = ["## Memory", ""]
    df = df[[cases[c].memory is not None for c in df["case_id"]]] if len(df) else df
    if df.empty:
        return [*head, "No memory figures recorded.", ""]
    keys = ["machine", "context", "device", "dtype", "threads", "allocator", "cache"]
    df = largest(df, keys)
    extra = varying(df)
    passes = pass_order(df["pass"])
    rows = []
    group_keys = [*keys, "numel", "shape", "label", "backend", "activation"]
    for gk, sub in df.groupby(group_keys, sort=False, dropna=False):
        g = dict(zip(group_keys, gk, strict=True))
        by_pass = {r["pass"]: cases[r["case_id"]].memory for _, r in sub.iterrows()}
        saved = by_pass.get("backward") or by_pass.get("forward_backward") or Memory()
        has_saved = saved.saved_bytes is not None
        saved_x = f"{saved.saved_ratio:.2f}×" if has_saved and saved.saved_ratio is not None \
            else "–"
        peak_src = sorted({str(m.peak_source) for m in by_pass.values() if m.peak_source})
        rows.append([
            g["shape"], g["dtype"], *(g[c] for c in extra), g["label"], g["backend"], saved_x,
            fmt_bytes(saved.saved_bytes) if has_saved else "–", saved.saved_source or "–",
            *(fmt_bytes(by_pass[p].peak_bytes) if p in by_pass else "–" for p in passes),
            "; ".join(peak_src) or "–",
        ])
    n = 2 + len(extra)
    rows.sort(key=lambda r: (r[0], r[1], r[n] != "relu", r[n], r[n + 1]))
    headers = ["shape", "dtype", *extra, "activation", "backend", "saved for backward (× input)",
               "saved bytes", "saved: source", *(f"peak {fmt_pass(p)}" for p in passes),
               "peak: source"]
    return [*head, "At the largest shape of each setting. Saved-for-backward bytes are what "
            "autograd keeps between forward and backward (unique storages, measured with saved "
            "tensor hooks, or stated by construction where autograd is not used); peak bytes "
            "are the growth of the process's (CPU) or the device's (CUDA) peak over one call.",
            "", md_table(rows, headers), ""]


def accuracy_section(frame: pd.DataFrame) -> list[str]:
    """The largest error per activation and backend against its tolerance."""
    head = ["## Accuracy", ""]
    acc = accuracy_frame(frame)
    if acc.empty:
        return [*head, "No error figures recorded.", ""]
    return [*head, "Largest error over every shape and pass, in units of the dtype's epsilon, "
            "relative to the float64 reference.", "", accuracy_table(acc).markdown(), ""]


__all__ = ["HOW_TO_READ", "WHY_TWO_RATIOS", "accuracy_section",
           "block_section", "cost_section", "memory_section"]


def likeness_rows(cases: list[CaseRecord]) -> list[dict[str, Any]]:
    """The ReLU-likeness of every activation of the run (deterministic, by quadrature against
    the float64 reference; :mod:`gembench.activations.likeness`), ReLU first."""
    from gembench.activations.catalog import activation
    from gembench.activations.likeness import likeness_table

    specs = {c.label: activation(c.activation, **(c.params or {})) for c in cases
             if c.activation}
    return likeness_table([specs[k] for k in sorted(specs, key=lambda k: (k != "relu", k))])


def likeness_verdict(rows: list[dict[str, Any]]) -> list[str]:
    """One line per activation for the verdict: how far from ReLU it is, beside its cost."""
    return [f"- ReLU-likeness of {r['activation']}: L2 distance to ReLU {r['L2 s=1']:.3g} under "
            f"N(0, 1) inputs, largest |f − ReLU| {r['sup']:.3g}, dead-gradient share "
            f"{r['dead s=1']:.1%} (ReLU: 50%)." for r in rows if r["activation"] != "relu"]


def likeness_section(rows: list[dict[str, Any]]) -> list[str]:
    """The full ReLU-likeness table."""
    from gembench.activations.likeness import likeness_markdown

    return ["## ReLU-likeness", "",
            "Distance to ReLU under N(0, s²) inputs (L1, L2), the largest |f − ReLU| (sup, and "
            "where), the share of inputs whose gradient is below 1e-3 in magnitude (dead; ReLU "
            "0.5), and f, f' at 0. Computed, not timed: `python -m gembench likeness`.", "",
            likeness_markdown(rows), ""]
