"""The markdown report, built from a fixed results file.

``tests/data/results-small.jsonl`` is real output, trimmed: a run of three backends
(torch_eager, torch_fused, onnxruntime) x relu, gelu, gem(N=1) x two sizes x forward/backward
in float32 on a 2-core AMD EPYC, each case cut to its first 12 timing rounds (summaries, ratios
and bandwidths recomputed from those rounds), plus two skipped cases of the same run (Triton
on CPU, NumPy bfloat16) and one failed case from a smoke run (torch_compile recompiled).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt

from gembench.cli import main
from gembench.report.markdown import ResultsError, write_report

FIXTURE = Path(__file__).parent / "data" / "results-small.jsonl"


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def _case(backend: str, activation: str, numel: int, pass_: str) -> dict:
    for r in _records()[1:]:
        if (r["backend"], r["activation"], r["numel"], r["pass"]) == (
                backend, activation, numel, pass_) and r["status"] == "ok":
            return r
    raise KeyError((backend, activation, numel, pass_))


def _tables(md: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table as (the heading above it, header cells, body rows), via markdown-it-py."""
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    out: list[tuple[str, list[str], list[list[str]]]] = []
    heading = ""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            heading = tokens[i + 1].content
        elif tok.type == "table_open":
            header: list[str] = []
            rows: list[list[str]] = []
            row: list[str] = []
            in_head = False
            while tokens[i].type != "table_close":
                t = tokens[i]
                if t.type == "thead_open":
                    in_head = True
                elif t.type == "thead_close":
                    in_head = False
                elif t.type == "tr_open":
                    row = []
                elif t.type in ("th_open", "td_open"):
                    row.append(tokens[i + 1].content if tokens[i + 1].type == "inline" else "")
                elif t.type == "tr_close":
                    (header.extend(row) if in_head else rows.append(row))
                i += 1
            out.append((heading, header, rows))
        i += 1
    return out


def _table(tables, heading: str) -> tuple[list[str], list[dict[str, str]]]:
    for h, header, rows in tables:
        if h == heading:
            return header, [dict(zip(header, r, strict=True)) for r in rows]
    raise AssertionError(f"no table under heading {heading!r}; have {[t[0] for t in tables]}")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report") / "small.md"
    path = write_report([FIXTURE], out)
    assert path == out
    return path, path.read_text(encoding="utf-8")


def test_tables_render_as_tables(report):
    _, md = report
    tables = _tables(md)
    headings = [h for h, _, _ in tables]
    for expected in ("Environment", "Cost relative to ReLU: forward",
                     "Cost relative to ReLU: backward", "Memory", "Accuracy",
                     "Failed and skipped cases", "Graph operators", "Backend settings"):
        assert expected in headings
    for heading, header, rows in tables:
        assert header, heading
        assert rows, heading
        for row in rows:  # markdown-it pads/truncates rows; the source must already agree
            assert len(row) == len(header), heading
    # and in the source: every line of a table has as many unescaped pipes as its header
    for block in md.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            counts = {ln.replace("\\|", "").count("|") for ln in lines}
            assert len(counts) == 1, block[:200]


def test_same_backend_ratio_is_the_recorded_per_round_ratio(report):
    _, md = report
    _, rows = _table(_tables(md), "Cost relative to ReLU: forward")
    row = next(r for r in rows if r["shape"] == "4096" and r["activation"] == "gem(N=1)"
               and r["backend"] == "torch_fused")
    # ratio_to_relu of that case in the fixture: median 5.3774, q1 5.2244, q3 5.4663
    assert row["× ReLU, same backend (q1–q3)"] == "5.38 (5.22–5.47)"
    relu = next(r for r in rows if r["shape"] == "4096" and r["activation"] == "relu"
                and r["backend"] == "torch_fused")
    assert relu["× ReLU, same backend (q1–q3)"] == "1.00 (1.00–1.00)"


def test_ratio_to_fastest_relu_by_hand(report):
    _, md = report
    _, rows = _table(_tables(md), "Cost relative to ReLU: forward")
    row = next(r for r in rows if r["shape"] == "4096" and r["activation"] == "gem(N=1)"
               and r["backend"] == "torch_fused")
    # fastest ReLU at 4096 forward float32: torch_eager 2.5233 µs (onnxruntime 7.963 µs,
    # torch_fused 14.55 µs); gem(N=1) on torch_fused: 72.542 µs. 72.542 / 2.5233 = 28.75
    gem = _case("torch_fused", "gem", 4096, "forward")["timing"]
    relu = _case("torch_eager", "relu", 4096, "forward")["timing"]
    assert gem["median"] == pytest.approx(72.54216658717874e-6)
    assert relu["median"] == pytest.approx(2.5232941113120202e-6)
    assert row["fastest ReLU"] == "torch_eager 2.523 µs"
    assert row["× fastest ReLU (q1–q3)"].startswith("28.75 (")
    # the spread: quartiles of every gem sample over every ReLU sample (12 x 12 pairs)
    pairs = np.divide.outer(np.array(gem["samples"]), np.array(relu["samples"])).ravel()
    q1, q3 = np.percentile(pairs, [25, 75])
    assert row["× fastest ReLU (q1–q3)"] == f"28.75 ({q1:.2f}–{q3:.2f})"
    # a backend whose own ReLU is slow: its ReLU is 1.00 on its own scale, not on the best
    slow = next(r for r in rows if r["shape"] == "4096" and r["activation"] == "relu"
                and r["backend"] == "torch_fused")
    assert slow["× fastest ReLU (q1–q3)"].startswith("5.77 (")  # 14.55 / 2.523
    assert "Why two ratios" in md


def test_absolute_time_and_bandwidth_columns(report):
    _, md = report
    _, rows = _table(_tables(md), "Cost relative to ReLU: backward")
    row = next(r for r in rows if r["shape"] == "262144" and r["activation"] == "relu"
               and r["backend"] == "torch_eager")
    t = _case("torch_eager", "relu", 262144, "backward")
    med_us = t["timing"]["median"] * 1e6
    assert row["median (IQR)"].startswith(f"{med_us:.2f} µs (IQR ")
    assert row["of copy BW"] == f"{t['derived']['bandwidth_fraction']:.0%}"


def test_failed_and_skipped_rows_with_reasons(report):
    _, md = report
    _, rows = _table(_tables(md), "Failed and skipped cases")
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["backend"] == "torch_compile"
    assert failed[0]["activation"] == "gelu"
    assert failed[0]["pass"] == "forward"
    assert failed[0]["reason"].startswith(
        "RuntimeError: recompiled: torch_compile gelu float32 (no_grad graph)")
    skipped = {r["backend"]: r for r in rows if r["status"] == "skipped"}
    assert skipped["triton"]["reason"] == ("Triton on CPU runs in its interpreter: correctness "
                                           "only, timing needs CUDA")
    assert skipped["numpy"]["reason"] == "NumPy has no bfloat16 dtype"
    assert skipped["numpy"]["dtype"] == "bfloat16"


def test_memory_accuracy_and_backend_facts(report):
    _, md = report
    tables = _tables(md)
    _, mem = _table(tables, "Memory")
    eager_gem = next(r for r in mem if r["activation"] == "gem(N=1)"
                     and r["backend"] == "torch_eager")
    assert eager_gem["saved for backward (× input)"] == "10.50×"
    assert eager_gem["shape"] == "262144"  # the largest shape only
    fused_gem = next(r for r in mem if r["activation"] == "gem(N=1)"
                     and r["backend"] == "torch_fused")
    assert fused_gem["saved for backward (× input)"] == "1.00×"
    ort = next(r for r in mem if r["backend"] == "onnxruntime" and r["activation"] == "relu")
    assert ort["saved: source"].startswith("x (by construction")

    _, acc = _table(tables, "Accuracy")
    gelu = next(r for r in acc if r["activation"] == "gelu" and r["backend"] == "torch_eager")
    assert gelu["tolerance fwd / bwd (eps)"] == "16 / 64"
    assert gelu["verdict"] == "ok"

    _, ops = _table(tables, "Graph operators")
    gem_ops = next(r for r in ops if r["activation"] == "gem(N=1)")
    assert gem_ops["transcendental ops: forward"] == "none"
    assert gem_ops["transcendental ops: backward"] == "none"
    gelu_ops = next(r for r in ops if r["activation"] == "gelu")
    assert gelu_ops["transcendental ops: backward"] == "Erf, Exp"


def test_environment_header(report):
    _, md = report
    _, env = _table(_tables(md), "Environment")
    facts = {r[""]: r["value"] for r in env}
    assert facts["CPU"] == "AMD EPYC"
    assert facts["suite"] == "fixture"
    assert facts["torch"] == "2.13.0+cpu"
    assert facts["GPU"] == "none"
    assert facts["git commit"].startswith("3edbe5926ba5")
    assert "caching" in facts["allocator of the cases"]
    assert "budget_s=0.03" in facts["timing policy"]
    assert len(facts["suite sha256"]) == 64


def test_plots_written_and_linked(report):
    path, md = report
    tokens = MarkdownIt("commonmark").parse(md)
    images = [c.attrs["src"] for t in tokens if t.type == "inline" for c in t.children or []
              if c.type == "image"]
    assert any("-cost-" in s for s in images)
    assert any("-size-" in s for s in images)  # the fixture has two sizes: a sweep
    for src in images:
        png = path.parent / src
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_size_sweep_skips_the_size_plot(tmp_path):
    one_size = tmp_path / "one.jsonl"
    recs = _records()
    keep = [recs[0]] + [r for r in recs[1:] if r.get("numel") == 4096]
    one_size.write_text("".join(json.dumps(r) + "\n" for r in keep))
    path = write_report([one_size], tmp_path / "one.md")
    md = path.read_text()
    assert "No size plot" in md
    assert not list(tmp_path.glob("*-size-*.png"))
    assert list(tmp_path.glob("one-cost-*.png"))


def test_default_path_and_run_directory(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(FIXTURE, run_dir / "results.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMBENCH_REPORT_DIR", raising=False)  # the default, in tmp_path
    path = write_report([run_dir])
    assert path == Path("reports") / "fixture-20261124-183100.md"
    assert path.is_file()


def test_two_runs_side_by_side(tmp_path):
    other = tmp_path / "other.jsonl"
    recs = _records()
    recs[0]["suite"] = "other"
    other.write_text("".join(json.dumps(r) + "\n" for r in recs))
    md = write_report([FIXTURE, other], tmp_path / "two.md").read_text()
    header, env = _table(_tables(md), "Environment")
    assert header == ["", "run 1", "run 2"]
    assert {r[""]: r["run 2"] for r in env}["suite"] == "other"


def test_cli_report_and_user_errors(tmp_path, capsys):
    out = tmp_path / "cli.md"
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 0
    assert out.is_file()
    assert str(out) in capsys.readouterr().out

    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gembench: error:") and "no such file" in err
    assert len(err.splitlines()) == 1

    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n{\"kind\": \"case\"}\n")
    assert main(["report", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a gembench results file" in err and "Traceback" not in err

    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["report", str(binary)]) == 2
    assert "not a gembench results file" in capsys.readouterr().err

    with pytest.raises(ResultsError):
        write_report([tmp_path])  # a directory without results.jsonl


def test_block_context_section(tmp_path):
    """A block case (as measure_block records it) gets the block table with its share."""
    recs = _records()
    case = copy.deepcopy(_case("torch_fused", "gem", 262144, "forward"))
    case["context"] = "mlp_block"
    case["case_id"] = case["case_id"].replace("elementwise/", "mlp_block/")
    case["block"] = {"median": case["timing"]["median"],
                     "activation": {"median": 0.25 * case["timing"]["median"]},
                     "activation_share": 0.25,
                     "activation_share_q": {"median": 0.25, "q1": 0.2, "q3": 0.3, "count": 12},
                     "activation_shape": [512]}
    case["memory"]["saved_vs_relu_block"] = 1.5
    path = tmp_path / "block.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*recs, case]))
    md = write_report([path], tmp_path / "block.md").read_text()
    _, rows = _table(_tables(md), "Block contexts")
    (row,) = rows
    assert row["context"] == "mlp_block"
    assert row["activation share (q1–q3)"] == "25% (20–30%)"
    assert row["saved vs ReLU block"] == "1.50×"
    # the cost tables now carry a context column, since two contexts are present
    header, _ = _table(_tables(md), "Cost relative to ReLU: forward")
    assert "context" in header


def test_profile_traces_are_linked_relative_to_the_report(tmp_path: Path) -> None:
    recs = _records()
    trace = tmp_path / "run" / "traces" / "abc.json"
    trace.parent.mkdir(parents=True)
    trace.write_text("{}")
    recs[1]["trace"] = str(trace)
    results = tmp_path / "run" / "results.jsonl"
    results.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    out = write_report([results], tmp_path / "reports" / "r.md")
    text = out.read_text()
    assert "## Profiles" in text
    assert "[trace](../run/traces/abc.json)" in text
    plain = write_report([FIXTURE], tmp_path / "reports" / "plain.md").read_text()
    assert "## Profiles" not in plain
