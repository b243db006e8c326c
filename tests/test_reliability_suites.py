"""Suite files a careless or hostile user may write: each is loaded right or refused in one
line naming the file and key (issue 12)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gembench.plan.schema import schema
from gembench.plan.suite import MAX_NAME, SuiteError, load_suite, safe_name

BASE = "activations: [gelu]\nbackends: [numpy]\nshapes: [1K]\npasses: [forward]\n"


def _load(tmp_path: Path, text: str | bytes, name: str = "s.yaml"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path, load_suite(path)


def _refused(tmp_path: Path, text: str | bytes, *parts: str) -> str:
    path = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    assert len(msg) - len(str(path)) < 250, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def _integer_keys(node: dict[str, Any], path: tuple[Any, ...] = ()) -> Iterator[tuple]:
    """Key paths (in a top-level suite) where the schema wants an integer; list items as 0."""
    if node.get("type") == "integer":
        yield path
    for sub in node.get("anyOf", []):
        yield from _integer_keys(sub, path)
    for key, sub in node.get("properties", {}).items():
        if key != "groups":
            yield from _integer_keys(sub, (*path, key))
    if isinstance(node.get("items"), dict):
        yield from _integer_keys(node["items"], (*path, 0))


INTEGER_KEYS = sorted(set(_integer_keys(schema())), key=str)


def _build(path: tuple[Any, ...], value: Any) -> Any:
    """A value at ``path`` (list indices make one-item lists; a sweep gets its upper end)."""
    if not path:
        return value
    child = _build(path[1:], value)
    if isinstance(path[0], int):
        return [child]
    return {path[0]: [*child, 12] if path[0] == "sweep" else child}


def _suite_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return {"activations": ["gelu"], "backends": ["numpy"], "passes": ["forward"],
            **_build(path, value)}


def test_every_integer_key_is_found() -> None:
    keys = {tuple(k for k in p if not isinstance(k, int)) for p in INTEGER_KEYS}
    assert {("seed",), ("threads",), ("shapes",), ("shapes", "sweep"), ("timing", "warmup"),
            ("timing", "max_samples"), ("timing", "min_samples")} <= keys


@pytest.mark.parametrize("key", INTEGER_KEYS, ids=lambda p: ".".join(map(str, p)))
def test_integral_float_is_converted_for_every_integer_key(tmp_path: Path, key: tuple) -> None:
    import yaml

    text = yaml.safe_dump(_suite_with(key, 12.0))
    _, suite = _load(tmp_path, text)
    assert suite.cases
    found = {"seed": suite.seed, "threads": suite.cases[0].threads}
    if key[0] == "timing":
        got = getattr(suite.timing, key[1])
        assert got == 12 and type(got) is int
    elif key[0] in found:
        assert found[key[0]] == 12 and type(found[key[0]]) is int
    else:
        assert all(type(n) is int for c in suite.cases for n in c.shape)
    text = yaml.safe_dump(_suite_with(key, 5.5))
    _refused(tmp_path, text, "5.5")


def test_issue_examples_of_integral_floats(tmp_path: Path) -> None:
    _, suite = _load(tmp_path, BASE.replace("[1K]", "[1e6]"))
    assert {c.shape for c in suite.cases} == {(1_000_000,)}
    _, suite = _load(tmp_path, BASE.replace("[1K]", "[{sweep: [10, 1.2e1]}]"))
    assert {c.shape for c in suite.cases} == {(1024,), (2048,), (4096,)}
    _, suite = _load(tmp_path, BASE + "seed: 1.0\nthreads: 2.0\n"
                     "timing: {warmup: 2.0, max_samples: 1e4}\n")
    assert suite.seed == 1 and suite.cases[0].threads == 2
    assert suite.timing.warmup == 2 and suite.timing.max_samples == 10_000


@pytest.mark.parametrize("suite", sorted(Path("suites").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_suites_take_max_samples_1e4(tmp_path: Path, suite: Path) -> None:
    import yaml

    from gembench.plan.suite import _Loader

    data = yaml.load(suite.read_text(), Loader=_Loader)
    data.setdefault("timing", {})["max_samples"] = 1e4
    _, loaded = _load(tmp_path, yaml.safe_dump(data))
    assert loaded.timing.max_samples == 10_000 and type(loaded.timing.max_samples) is int


REFUSED = {
    "timeout nan": (BASE + "timing: {timeout_s: .nan}\n", ["timing.timeout_s", "finite", "nan"]),
    "timeout inf": (BASE + "timing: {timeout_s: .inf}\n", ["timing.timeout_s", "inf"]),
    "timeout 1e300": (BASE + "timing: {timeout_s: 1e300}\n", ["timing.timeout_s", "<= 604800"]),
    "budget nan": (BASE + "timing: {budget_s: .nan}\n", ["timing.budget_s", "nan"]),
    "precision nan": (BASE + "timing: {target_precision: .nan}\n",
                      ["timing.target_precision", "nan"]),
    "seed -1": (BASE + "seed: -1\n", ["seed", ">= 0", "-1"]),
    "seed bool": (BASE + "seed: true\n", ["seed", "expected integer", "True"]),
    "reversed sweep": (BASE.replace("[1K]", "[{sweep: [24, 10]}]"),
                       ["shapes[0].sweep", "low <= high", "[24, 10]"]),
    "group min > max": (BASE + "groups: [{passes: [forward]}, "
                               "{timing: {min_samples: 50, max_samples: 10}}]\n",
                        ["groups[1].timing.max_samples", ">= min_samples (50)", "10"]),
    "non-string key": (BASE + "1: 2\n", ["(top level)", "string keys", "1 (int)"]),
    "non-string nested key": (BASE + "timing: {3: 4}\n", ["timing", "string keys"]),
    "list key": (BASE + "? [a, b]\n: 1\n", ["not valid YAML"]),
    "deep nesting": ("a: " + "[" * 3000 + "]" * 3000 + "\n", ["nested"]),
    "moderate nesting": ("a: " + "[" * 40 + "]" * 40 + "\n", ["nested more than 32"]),
    "latin-1": (b"activations: [g\xe9lu]\nbackends: [numpy]\n", ["line 1", "not UTF-8", "0xe9"]),
    "0xff": (b"activations: [gelu]\nbackends: [numpy]\nx: \xff\n", ["line 3", "0xff"]),
    "utf-16": ("activations: [gelu]\nbackends: [numpy]\n".encode("utf-16"), ["UTF-16"]),
    "utf-16 without BOM": ("activations: [gelu]\n".encode("utf-16-le"), ["NUL bytes"]),
    "binary": (bytes(range(256)) * 4, ["NUL bytes"]),
    "control character": (BASE + "x: \x01\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_in_one_line(tmp_path: Path, name: str) -> None:
    text, parts = REFUSED[name]
    _refused(tmp_path, text, *parts)


def test_alias_bomb_is_refused_in_one_short_line(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 8)]
    text = "\n".join(lines) + "\nactivations: [*a7]\nbackends: [numpy]\n"
    assert len(text) < 700
    _refused(tmp_path, text, "more than 100000 values", "aliases")


def test_utf8_with_bom_is_read(tmp_path: Path) -> None:
    _, suite = _load(tmp_path, codecs.BOM_UTF8 + BASE.encode())
    assert suite.cases


def test_group_timing_overrides_the_suites_key_by_key(tmp_path: Path) -> None:
    text = ("activations: [gelu]\nbackends: [numpy]\nshapes: [1K]\n"
            "timing: {budget_s: 0.5, timeout_s: 30}\n"
            "groups:\n  - {passes: [forward]}\n"
            "  - {passes: [backward], timing: {timeout_s: 5, min_samples: 4}}\n")
    _, suite = _load(tmp_path, text)
    by_pass = {c.pass_: suite.timing_of(c) for c in suite.cases}
    assert by_pass["forward"] == suite.timing and suite.timing.timeout_s == 30
    assert by_pass["backward"].timeout_s == 5 and by_pass["backward"].min_samples == 4
    assert by_pass["backward"].budget_s == 0.5  # kept from the suite's timing
    _, quick = _load(tmp_path, text.replace("budget_s: 0.5", "budget_s: 0.5"))
    assert load_suite(tmp_path / "s.yaml", quick=True).timing_of(
        next(c for c in quick.cases if c.pass_ == "backward")).budget_s == pytest.approx(0.05)


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/b", "x" * 300, "..", " ",
                                  "ok-name_1.2", "naïve name"])
def test_suite_name_is_safe_as_a_path_component(tmp_path: Path, name: str) -> None:
    import yaml

    _, suite = _load(tmp_path, BASE + yaml.safe_dump({"name": name}))
    assert "/" not in suite.name and not suite.name.startswith(".")
    assert 0 < len(suite.name) <= MAX_NAME
    assert (Path("results") / suite.name).resolve().parent == Path("results").resolve()
    if name == "ok-name_1.2":
        assert suite.name == name
    assert safe_name("..") == "suite"
