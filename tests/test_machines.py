"""Results of several machines in one file (``gembench merge``, the Ray executor): every case is
kept, tables name the machine, and no ratio pairs two machines. And the ``likeness`` suite key."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gembench.plan.suite import parse_suite
from gembench.report.frames import cost_frame
from gembench.report.markdown import build_report
from gembench.results import merged_cases, read, read_all
from gembench.results.merge import merge

DATA = Path(__file__).parent / "data" / "results-small.jsonl"


def _as_machine(tmp_path: Path, name: str, cpu: str, slower: float) -> Path:
    """The fixture as if measured on another CPU, every time ``slower`` times longer."""
    lines = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    lines[0]["environment"]["cpu"]["brand_raw"] = cpu
    for rec in lines[1:]:
        t = rec.get("timing") or {}
        for key in ("median", "q1", "q3", "min", "mean"):
            if isinstance(t.get(key), (int, float)):
                t[key] *= slower
        if t.get("samples"):
            t["samples"] = [s * slower for s in t["samples"]]
    out = tmp_path / name / "results.jsonl"
    out.parent.mkdir()
    out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return out


def _merged(tmp_path: Path) -> Path:
    a = _as_machine(tmp_path, "a", "CPU Alpha", 1.0)
    b = _as_machine(tmp_path, "b", "CPU Beta", 10.0)
    return merge([a, b], tmp_path / "m").path


def test_both_machines_are_kept_and_never_paired(tmp_path: Path) -> None:
    path = _merged(tmp_path)
    cases = read(path).cases
    n = sum(1 for line in DATA.read_text().splitlines() if '"kind": "case"' in line)
    assert len(cases) == 2 * n  # nothing lost to a case id seen on two machines
    assert len({c.case_id for c in cases}) == 2 * n  # ids are qualified by machine
    runs = read_all([path])
    costs = cost_frame(merged_cases(runs))
    assert set(costs["machine"]) == {c.machine_key for c in cases}
    # the fastest ReLU of a case is always on its own machine: machine b is 10x slower in
    # everything, so its cases' ratios to the fastest ReLU equal machine a's
    for machine, sub in costs.groupby("machine"):
        assert sub["best_median"].notna().any()
        ids = {c.case_id for c in cases if c.machine_key == machine}
        assert set(sub["case_id"]) <= ids
    a, b = (sub.set_index(sub["case_id"].str.split("@").str[0])["cross"]
            for _, sub in costs.groupby("machine"))
    common = a.dropna().index.intersection(b.dropna().index)
    assert len(common) > 3
    assert (abs(a[common] / b[common] - 1) < 1e-9).all()


def test_report_names_the_machines(tmp_path: Path) -> None:
    path = _merged(tmp_path)
    text = build_report(read_all([path]), tmp_path / "r.md")
    assert "### Machines" in text and "CPU Alpha" in text and "CPU Beta" in text
    assert re.search(r"\| shape +\| dtype +\| machine +\|", text)  # cost tables
    verdict = text.split("## Environment")[0]
    assert re.search(r"\| machine +\|", verdict) and verdict.count("| gem(N=1) ") == 4


def test_likeness_key_adds_the_table(tmp_path: Path) -> None:
    suite = parse_suite({"activations": ["gelu"], "backends": ["numpy"], "likeness": True})
    assert suite.likeness
    lines = DATA.read_text().splitlines()
    run = json.loads(lines[0])
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(lines) + "\n")
    assert "## ReLU-likeness" not in build_report(read_all([plain]), tmp_path / "p.md")
    run["likeness"] = True
    asked = tmp_path / "asked.jsonl"
    asked.write_text("\n".join([json.dumps(run), *lines[1:]]) + "\n")
    text = build_report(read_all([asked]), tmp_path / "a.md")
    section = text.split("## ReLU-likeness", 1)[1].split("\n## ", 1)[0]
    assert "| gelu |" in section and "| relu | 0 | 0 | 0 |" in section
    verdict = text.split("## ReLU-likeness", 1)[0]
    assert verdict.startswith("# gembench report") and "## Verdict" in verdict
    assert "- ReLU-likeness of gem(N=1): L2 distance to ReLU 0.279 under N(0, 1)" in verdict
