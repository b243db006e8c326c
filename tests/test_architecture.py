"""The house's floors: no import in ``gembench/`` runs up a floor, no two modules import each
other (directly or round a circle), and no module or function outgrows a newcomer's reading.

Every import counts, deferred ones inside functions too: deferring an upward import hides the
dependency without removing it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gembench"

#: bottom to top; a module's room is the longest prefix listed. A module may import its own
#: room, any room on a lower floor and, on its own floor, a room listed before its own.
FLOORS: list[list[str]] = [
    ["gembench.version", "gembench.stats"],
    ["gembench.activations"],
    ["gembench.backends"],
    ["gembench.spec"],
    ["gembench.plan"],
    ["gembench.results"],
    ["gembench.decide"],
    ["gembench.engine.measuring"],
    ["gembench.engine.contexts"],
    ["gembench.engine.running"],
    ["gembench.report"],
    ["gembench.surveys", "gembench.compare", "gembench.crosscheck", "gembench.ab"],
    ["gembench.cli", "gembench", "gembench.__main__"],
]
ROOMS = {room: (f, i) for f, rooms in enumerate(FLOORS) for i, room in enumerate(rooms)}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The gembench modules ``name`` imports (``from X import y``: X.y when y is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in known and m != name}


def _room(module: str) -> str:
    return max((r for r in ROOMS if module == r or module.startswith(r + ".")), key=len)


def graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_room() -> None:
    for name in _modules():
        assert _room(name), name


def test_no_import_runs_up_a_floor() -> None:
    upward = []
    for a, targets in graph().items():
        fa = ROOMS[_room(a)]
        for b in targets:
            if _room(b) != _room(a) and ROOMS[_room(b)] >= fa:
                upward.append(f"{a} -> {b}")
    assert not upward, "imports up a floor:\n" + "\n".join(sorted(upward))


def _circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(g):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other() -> None:
    assert _circles(graph()) == []


def test_the_checks_fail_on_a_planted_back_edge_and_circle() -> None:
    g = {k: set(v) for k, v in graph().items()}
    g["gembench.activations.catalog"].add("gembench.report.verdict")
    g["gembench.report.verdict"].add("gembench.activations.catalog")
    assert any("gembench.activations.catalog" in c for c in _circles(g))
    assert ROOMS[_room("gembench.report.verdict")] > ROOMS[_room("gembench.activations.catalog")]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path}: {len(lines)} lines"
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name}: {n} lines"
