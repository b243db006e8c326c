"""The verdict in a terminal: one line per activation of at most :data:`WIDTH` characters
(forward, forward+backward, the in-block change, bytes saved, accuracy) in the main setting,
then what was withheld and where the full table is; ``--wide`` prints every setting as a
column instead.
"""

from __future__ import annotations

import math
import textwrap

from gembench.report.fmt import fmt_pass, fmt_pct, text_table
from gembench.report.verdict import (
    Best,
    Verdict,
    _algebraic,
    _primary,
    _saved_text,
    _setting,
    cell,
    family_key,
    problems,
    sentences,
)

#: the widest line the default terminal verdict prints
WIDTH = 100


#: short backend names for the terminal.
SHORT = {"torch_compile": "tc", "torch_compile_fused": "tcf", "torch_eager": "te",
         "torch_fused": "tf", "numpy": "np", "onnxruntime": "ort", "triton": "tr"}
SHORT_DTYPES = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16"}


def _short_preset(preset: str) -> str:
    """``gpt2_small_mlp`` -> ``gpt2``, ``resnet56_stage1`` -> ``stage1``."""
    for cut in ("_small", "_mlp", "resnet56_"):
        preset = preset.replace(cut, "")
    return preset


def wide(v: Verdict, width: int = 150) -> str:
    """``run --wide``: every setting of the verdict as a column (lines may exceed 100)."""
    if v.empty:
        return "\n".join(["VERDICT: no case ran successfully.", *problems(v, 5)])
    keys = list(dict.fromkeys((*_setting(r), r.pass_) for r in v.rows))
    prim = _primary(v)
    bkeys = list(dict.fromkeys((b.preset, *_setting(b), b.pass_)
                               for b in v.blocks if prim is None or _setting(b) == prim))
    multi_dev = len({k[1] for k in keys}) > 1
    multi_machine = len({k[0] for k in keys}) > 1
    labels = sorted({(r.activation, r.label) for r in [*v.rows, *v.blocks]},
                    key=lambda al: family_key(*al))

    def head(k: tuple[str, ...]) -> str:
        cache = "" if k[-2] in ("-", "") else f" {k[-2]}"
        dev = (f"{k[-5][:6]} " if multi_machine else "") + (f"{k[-4]} " if multi_dev else "")
        short = fmt_pass(k[-1]).replace("forward", "fwd").replace("backward", "bwd")
        return f"{dev}{SHORT_DTYPES.get(k[-3], k[-3])}{cache} {short}"

    def table(spread: bool) -> str:
        rows = []
        for _act, label in labels:
            row = [label]
            for k in keys:
                r = next((r for r in v.rows if (*_setting(r), r.pass_) == k
                          and r.label == label), None)
                row.append(f"{cell(r, spread)} {SHORT.get(r.backend, r.backend)}" if r else "–")
            for k in bkeys:
                b = next((b for b in v.blocks if (b.preset, *_setting(b), b.pass_) == k
                          and b.label == label), None)
                row.append(f"{(b.ratio - 1) * 100:+.1f}% ({fmt_pct(b.share)})" if b else "–")
            saved = next((r.saved_ratio for r in v.rows if r.label == label
                          and math.isfinite(r.saved_ratio)), math.nan)
            accs = {r.accuracy for r in v.rows if r.label == label} - {"–"}
            row += [_saved_text(saved), ",".join(sorted(accs)) or "–"]
            rows.append(row)
        headers = ["activation", *(head(k) for k in keys),
                   *(f"{_short_preset(k[0])} {head(k)}" for k in bkeys),
                   "saved", "acc"]
        return text_table(rows, headers)

    text = table(True)
    if max(len(line) for line in text.splitlines()) > width:
        text = table(False)
    legend = ("× fastest ReLU on the device, best implementation (" + ", ".join(
        f"{s}={b}" for b, s in SHORT.items() if any(r.backend == b for r in v.rows)) + ")")
    if bkeys:
        legend += "; blocks: time vs the fastest ReLU block (activation share)"
    lines = ["VERDICT  " + legend, text, *sentences(v), *problems(v, 3)]
    return "\n".join(lines)




def _figure(r: Best | None) -> str:
    if r is None:
        return "–"
    if r.withheld:
        return "withheld"
    return f"{cell(r, spread=False)} {SHORT.get(r.backend, r.backend)}"


def _block_figure(r: Best | None) -> str:
    if r is None:
        return "–"
    if r.withheld:
        return "withheld"
    return f"{(r.ratio - 1) * 100:+.1f}%" + ("*" if r.busy else "")


def _wrap(lines: list[str]) -> list[str]:
    return [w for ln in lines for w in (textwrap.wrap(ln, WIDTH, subsequent_indent="  ")
                                        or [""])]


def terminal(v: Verdict, report: str | None = None) -> str:
    """The short verdict: the main setting (first machine and device, float32 and hot cache
    where present), one line per activation."""
    if v.empty:
        return "\n".join(_wrap(["VERDICT: no case ran successfully.", *problems(v, 5)]))
    prim = _primary(v)
    rows = [r for r in v.rows if _setting(r) == prim]
    passes = [p for p in ("forward", "forward_backward", "backward")
              if any(r.pass_ == p for r in rows)][:2]
    blocks = [b for b in v.blocks if _setting(b) == prim]
    bkey = next(((b.preset, b.pass_) for b in sorted(
        blocks, key=lambda b: b.pass_ != "forward_backward")), None)
    labels = sorted({(r.activation, r.label) for r in [*rows, *blocks]},
                    key=lambda al: family_key(*al))
    table = []
    for _act, label in labels:
        line = [label[:34]]
        for p in passes:
            line.append(_figure(next((r for r in rows if r.label == label and r.pass_ == p),
                                     None)))
        if bkey:
            line.append(_block_figure(next((b for b in blocks if b.label == label
                                            and (b.preset, b.pass_) == bkey), None)))
        saved = next((r.saved_ratio for r in rows if r.label == label
                      and math.isfinite(r.saved_ratio)), math.nan)
        accs = {r.accuracy for r in rows if r.label == label} - {"–"}
        table.append([*line, _saved_text(saved), ",".join(sorted(accs))[:8] or "–",
                      _algebraic(_act)])
    headers = ["activation", *(fmt_pass(p).replace("forward", "fwd").replace("backward", "bwd")
                               for p in passes)]
    if bkey:
        headers.append(f"{_short_preset(bkey[0])} {fmt_pass(bkey[1])}"
                       .replace("forward", "fwd").replace("backward", "bwd"))
    headers += ["saved", "acc", "alg"]
    cache = "" if prim[3] in ("-", "") else f", {prim[3]} cache"
    used = sorted({r.backend for r in rows if not r.withheld})
    legend = ", ".join(f"{SHORT.get(b, b)}={b}" for b in used)
    lines = [f"VERDICT on {prim[1]}, {prim[2]}{cache}: x fastest ReLU (best implementation)",
             text_table(table, headers)]
    notes = [f"backends: {legend}" if legend else "",
             "block: time change against the fastest ReLU block; *: measured busy; "
             "alg: transcendental-free (no exp/erf/tanh)",
             *v.trust.advice(), *problems(v, 3)]
    notes.append(f"every setting and interval: {report}" if report else
                 "every setting and interval: the report (gembench report RESULTS); --wide here")
    return "\n".join([*lines[:1], *lines[1].splitlines(), *_wrap([n for n in notes if n])])


__all__ = ["SHORT", "WIDTH", "terminal", "wide"]
