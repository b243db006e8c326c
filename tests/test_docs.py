"""The repository's docs are self-contained and agree with the code: docs/activations.md lists
exactly the catalog (activations, parameters, defaults, transcendental-free claims); README.md
and every docs page point only at files (and headings) inside the repository, show only real
commands and flags, and stay short."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from gembench.activations.catalog import CATALOG

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "activations.md"
PARAM = re.compile(r"`(\w+)` = ([^:;]+): ([^;]+)")


def _table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|") and "---" not in line]


def _glance() -> dict[str, list[str]]:
    """The doc's 'catalog at a glance' table: activation -> its cells."""
    section = DOC.read_text().split("## The catalog at a glance", 1)[1].split("\n## ", 1)[0]
    return {row[0].strip("`"): row for row in _table_rows(section)[1:]}


def test_the_doc_lists_exactly_the_catalog() -> None:
    assert list(_glance()) == list(CATALOG)


@pytest.mark.parametrize("name", list(CATALOG))
def test_each_activation_has_its_parameters_defaults_and_claims(name: str) -> None:
    row = _glance()[name]
    documented = {m[0]: (float(m[1]), m[2].strip()) for m in PARAM.findall(row[1])}
    d = CATALOG[name]
    assert documented == {p.name: (float(p.default), p.requirement) for p in d.params}
    assert row[2] == ("yes" if d.transcendental_free else "no")


def test_every_activation_the_doc_names_exists() -> None:
    named = {row[0].strip("`") for row in _table_rows(DOC.read_text())
             if row[0].startswith("`")}
    assert named and named <= set(CATALOG), named - set(CATALOG)


DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
        "examples/custom_implementation/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
COMMAND = re.compile(r"(?<![\w./-])gembench[ \t]+([a-z][\w-]*)(.*)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS)
def test_docs_point_only_inside_the_repository(doc: str) -> None:
    text = (ROOT / doc).read_text()
    assert "../" not in text, "a path leaves the repository"
    links = [t for t in LINK.findall(text) if "://" not in t and not t.startswith("mailto:")]
    paths = re.findall(r"`([\w./-]+/[\w.-]+\.(?:md|py|yaml|yml|txt|json|jsonl|html|toml|ini))`",
                       text)
    for target in links + paths:
        if re.search(r"(^|/)[A-Z][A-Z_-]*/", target):  # a placeholder: OUT/results.jsonl
            continue
        file, _, anchor = target.partition("#")
        if file:
            here = (ROOT / doc).parent / file
            here = here if here.exists() else ROOT / file
            assert here.exists(), f"{doc}: {target} does not exist"
        else:
            here = ROOT / doc
        if anchor and here.suffix == ".md":
            assert anchor in _anchors(here), f"{doc}: {target}: no heading #{anchor}"


def _commands() -> list[tuple[str, str, str]]:
    """(doc, command, the rest of its line) for every gembench command in a fenced block."""
    found = []
    for doc in DOCS:
        for block in FENCE.findall((ROOT / doc).read_text()):
            for line in block.splitlines():
                found += [(doc, m[1], m[2]) for m in COMMAND.finditer(line)]
    return found


def _help(command: str) -> str:
    from gembench.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0, f"gembench {command} --help exited {stop.value.code}"
    return out.getvalue()


def test_every_command_the_docs_show_exists_with_its_flags() -> None:
    commands = _commands()
    assert {c for _, c, _ in commands} >= {"run", "list", "compare", "ab"}
    helps: dict[str, str] = {}
    for doc, command, rest in commands:
        if command not in helps:
            helps[command] = _help(command)
        for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest.split("#")[0].split("&&")[0]):
            assert flag in helps[command], f"{doc}: gembench {command} has no {flag}"


def test_the_readme_reads_in_five_minutes() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines (at most 200)"
    long = [i + 1 for i, line in enumerate(lines) if len(line) > 200]
    assert not long, f"README.md lines over 200 characters: {long}"
    text = "\n".join(lines)
    assert text.count("<!-- VERDICT -->") == 1 and text.count("<!-- /VERDICT -->") == 1
    assert text.index("<!-- VERDICT -->") < text.index("<!-- /VERDICT -->")


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_each_docs_page_stays_short(page: str) -> None:
    n = len((ROOT / "docs" / page).read_text().splitlines())
    assert n < 400, f"docs/{page} has {n} lines (fewer than 400)"


def test_the_readme_links_every_docs_page() -> None:
    linked = set(LINK.findall((ROOT / "README.md").read_text()))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert not pages - linked, f"README.md does not link {sorted(pages - linked)}"
