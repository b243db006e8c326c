"""Sharding: comparison groups are never split, shards cover a suite exactly once, the partition
is deterministic and independent of the order of the suite file, and balanced by cost."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from gembench.plan.shard import (
    ShardError,
    assign,
    comparison_groups,
    parse_shard,
    setting_key,
    shard,
)
from gembench.plan.suite import parse_suite
from gembench.spec.cases import Case

ROOT = Path(__file__).resolve().parent.parent

SUITE = {
    "activations": ["gelu", "silu", {"name": "gem", "params": {"N": [1, 2]}}],
    "backends": ["numpy", "torch_eager", "torch_fused"],
    "shapes": ["1K", "64K", "1M"],
    "dtypes": ["float32", "float64"],
    "passes": ["forward", "backward", "forward_backward"],
    "threads": [1, 2],
    "cache": ["hot", "cold"],
}


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return parse_suite(SUITE).cases


def _ids(cs: list[Case]) -> list[str]:
    return [c.case_id for c in cs]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 200])
def test_shards_cover_the_suite_exactly_once(cases: list[Case], n: int) -> None:
    parts = [_ids(shard(cases, i, n)) for i in range(1, n + 1)]
    flat = [c for p in parts for c in p]
    assert sorted(flat) == sorted(_ids(cases))
    assert len(flat) == len(set(flat))


def test_a_group_is_one_setting_and_never_split(cases: list[Case]) -> None:
    groups = comparison_groups(cases)
    assert len(groups) == 3 * 2 * 3 * 2 * 2  # shapes x dtypes x passes x threads x cache
    for g in groups:
        assert {c.backend for c in g.cases} == {"numpy", "torch_eager", "torch_fused"}
        first = g.cases[0]
        assert {(c.dtype, c.shape, c.pass_, c.threads, c.cache) for c in g.cases} == {
            (first.dtype, first.shape, first.pass_, first.threads, first.cache)}
        assert "relu" in {c.activation for c in g.cases}
    where = {c.case_id: i for i in range(1, 5) for c in shard(cases, i, 4)}
    for g in groups:
        assert len({where[c.case_id] for c in g.cases}) == 1


def test_deterministic_and_stable_under_reordering(cases: list[Case]) -> None:
    rng = random.Random(1)
    for _ in range(5):
        shuffled = cases[:]
        rng.shuffle(shuffled)
        for i in range(1, 4):
            assert sorted(_ids(shard(shuffled, i, 3))) == sorted(_ids(shard(cases, i, 3)))
    # keys are content hashes, not list positions or Python's per-process hash seed
    assert setting_key(cases[0]) == setting_key(Case.from_dict(cases[0].to_dict()))


def test_the_suite_file_order_does_not_matter() -> None:
    reordered = {k: (list(reversed(v)) if isinstance(v, list) else v) for k, v in SUITE.items()}
    a, b = parse_suite(SUITE).cases, parse_suite(reordered).cases
    assert _ids(a) != _ids(b)
    assert sorted(_ids(shard(a, 2, 5))) == sorted(_ids(shard(b, 2, 5)))


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_balanced_by_cost(cases: list[Case], n: int) -> None:
    groups = comparison_groups(cases)
    loads = [sum(g.cost for g in b) for b in assign(groups, n)]
    total = sum(loads)
    # longest-processing-time is within 4/3 of the optimum, which is at least the larger of the
    # mean load and the costliest group
    bound = max(total / n, max(g.cost for g in groups))
    assert max(loads) <= 4 / 3 * bound
    assert min(loads) > 0


def test_more_shards_than_groups_leaves_some_empty(cases: list[Case]) -> None:
    sizes = [len(shard(cases, i, 200)) for i in range(1, 201)]
    assert sum(1 for s in sizes if s) == len(comparison_groups(cases))


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/2/3", "-1/2", "", " 1/2",
                                  "+1/2", "1/2\n", "١/٢", "1_0/20", "1/10001",
                                  "1/1000000000", "9" * 5000 + "/1"])
def test_bad_shard_specs_are_refused(text: str) -> None:
    with pytest.raises(ShardError, match="--shard: expected I/N"):
        parse_shard(text)


def test_run_shard_is_a_one_line_error_when_out_of_range(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "gembench", "run", "suites/smoke.yaml",
                          "--shard", "4/3", "--out", str(tmp_path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == "gembench: error: --shard: expected I/N with 1 <= I <= N " \
                                 "<= 10000, found '4/3'"
