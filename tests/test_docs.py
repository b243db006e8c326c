"""The repository's docs are self-contained and agree with the code: docs/activations.md lists
exactly the catalog (activations, parameters, defaults, transcendental-free claims), and the
README points only at files inside the repository."""

from __future__ import annotations

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


@pytest.mark.parametrize("doc", ["README.md", "docs/activations.md",
                                 "examples/custom_implementation/README.md"])
def test_docs_point_only_inside_the_repository(doc: str) -> None:
    text = (ROOT / doc).read_text()
    assert "../" not in text, "a path leaves the repository"
    links = re.findall(r"\]\(([^)#]+)\)", text)
    paths = re.findall(r"`([\w./-]+/[\w.-]+\.(?:md|py|yaml|txt|json))`", text)
    for target in links + paths:
        if "://" in target:
            continue
        here = (ROOT / doc).parent / target
        assert here.exists() or (ROOT / target).exists(), f"{doc}: {target} does not exist"
