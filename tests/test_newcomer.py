"""The first hour of a user: built-in suites by name from any directory, plain help, a list
that fits 120 columns, and a filtered run that says how many cases it runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from gembench import cli
from gembench.cli.run import announce
from gembench.engine.running.runner import matches
from gembench.plan.builtin import BUILTIN_DIR, builtin_suites, descriptions
from gembench.plan.suite import SuiteError, load_suite, resolve_suite
from gembench.report.markdown import build_report, fold_tables
from gembench.results import read_all

ROOT = Path(__file__).resolve().parent.parent


def test_builtin_suites_live_in_the_package_and_the_clone_links_to_them() -> None:
    assert BUILTIN_DIR == ROOT / "gembench" / "suites"
    assert {"smoke", "transformer_mlp"} <= set(builtin_suites())
    assert sorted(p.name for p in (ROOT / "suites").glob("*.yaml")) == \
        sorted(p.name for p in builtin_suites().values())


@pytest.mark.parametrize("ref", ["smoke", "smoke.yaml", "suites/smoke.yaml"])
def test_a_builtin_suite_runs_by_name_from_any_directory(ref: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_suite(ref) == BUILTIN_DIR / "smoke.yaml"
    suite = load_suite(ref, quick=True)
    assert suite.name == "smoke" and suite.cases


def test_a_file_of_that_name_wins_over_the_builtin(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("smoke.yaml").write_text("name: mine\nactivations: [gelu]\nbackends: [numpy]\n")
    assert resolve_suite("smoke.yaml") == Path("smoke.yaml")
    assert load_suite("smoke.yaml").name == "mine"
    assert resolve_suite("smoke") == BUILTIN_DIR / "smoke.yaml"  # no file named "smoke"


@pytest.mark.parametrize("ref", ["nosuch", "nosuch.yaml", "suites/nosuch.yaml", "x/smoke.yaml"])
def test_an_unknown_suite_is_one_line_naming_the_builtin_suites(
        ref: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SuiteError, match="cannot read"):
        resolve_suite(ref)
    assert cli.main(["run", ref, "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gembench: error: {ref}: "), err
    assert all(name in err for name in builtin_suites())
    assert not Path("o").exists()


def _list(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["list", *args]) == 0
    return capsys.readouterr().out


def test_list_names_the_builtin_suites_and_fits_120_columns(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = _list(capsys)
    assert max(map(len, out.splitlines())) <= 120
    suites = out[out.index("Built-in suites"):]
    for name, text in descriptions().items():
        assert re.search(rf"^{name} ", suites, re.M), name
        assert text.split()[0] in suites
    assert "smoke" in descriptions() and descriptions()["smoke"] != "-"
    assert "notes" not in out.split("Built-in")[0]  # per-device notes only with --verbose
    assert "notes" in _list(capsys, "--verbose")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_plain_text_and_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":class:" not in out
    assert "``" not in (cli.__doc__ or "")
    commands = _subcommands()
    assert len(commands) >= 9
    for name in commands:  # in --help with its summary, and in the module docstring
        assert re.search(rf"^\s+{name}\s+\S", out, re.M) or re.search(rf"^\s+{name}$", out,
                                                                       re.M), name
        assert re.search(rf"^  {name} +\S", cli.__doc__ or "", re.M), name


def test_a_filtered_run_says_how_many_cases_it_runs() -> None:
    suite = load_suite("smoke", quick=True)
    expr = "activation=gem,backend=torch_eager,pass=forward"
    chosen = sum(matches(c, expr) for c in suite.cases)
    assert 0 < chosen < len(suite.cases)
    assert announce(suite, expr, None) == \
        f"suite smoke: {chosen} of {len(suite.cases)} cases (filter {expr})"
    assert announce(suite, None, None) == f"suite smoke ({len(suite.cases)} cases)"
    assert announce(suite, None, "1/3") == f"suite smoke ({len(suite.cases)} cases, shard 1/3)"


def test_the_run_announces_the_filtered_count_before_refusing_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["run", "smoke", "--filter", "backend=nope", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert re.search(r"suite smoke: 0 of \d+ cases \(filter backend=nope\)", err), err


def _table(rows: int) -> str:
    return "\n".join(["| a | b |", "|---|---|", *(f"| {i} | x |" for i in range(rows))])


def test_long_tables_fold_and_short_ones_stay_open() -> None:
    text = "\n".join(["## Short", "", _table(3), "", "## Long", "", "prose stays open", "",
                      _table(30), "", "after"])
    folded = fold_tables(text, limit=20)
    short, long_ = folded.split("## Long")
    assert "<details>" not in short and _table(3) in short
    assert "prose stays open\n\n<details><summary>show the table (30 rows)</summary>\n\n" \
        + _table(30) + "\n\n</details>\n\nafter" in long_
    assert fold_tables(_table(30), limit=20).endswith("</details>")  # a table at the very end
    assert fold_tables(text, limit=100) == text


def test_the_main_commands_report_answers_first_and_folds_its_long_tables(tmp_path: Path) -> None:
    runs = read_all([ROOT / "reports" / "samples" / "transformer_mlp-results.jsonl"])
    lines = build_report(runs, tmp_path / "r.md").split("\n")
    assert lines[2] == "## Verdict" and any(x.startswith("On cpu") for x in lines[:12])
    verdict_end = next(i for i, x in enumerate(lines) if x == "## Environment")
    open_rows, folded = 0, 0
    inside = False
    for line in lines[verdict_end:]:
        inside = (inside or line.startswith("<details>")) and line != "</details>"
        if line.startswith("|"):
            folded += inside
            open_rows += not inside
    assert folded > 1000 and open_rows < 60, (folded, open_rows)
