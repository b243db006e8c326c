"""The engine's skeleton: registered contexts, passes for blocks, learnable parameters in a
block, the cache state in suites and case ids."""

from __future__ import annotations

import pytest
import torch

from gembench.backends import backend
from gembench.engine.contexts.blocks import BlockSubject
from gembench.engine.contexts.subject import SubjectArgs
from gembench.plan.suite import SuiteError, parse_suite
from gembench.spec.cases import Case
from gembench.spec.contexts import ContextSpec, context_names, context_spec, register_context
from gembench.spec.policy import Timing

TIMING = Timing(budget_s=0.02, min_samples=5, warmup=1, error_elements=4096)


@pytest.mark.parametrize("backend_name", ["torch_eager", "torch_fused"])
def test_block_forward_backward_returns_the_gradient_of_a_learnable_parameter(
        backend_name: str) -> None:
    case = Case(backend=backend_name, activation="lambda_gelu_learnable", params={"s": 0.3},
                shape=(2, 8, 8, 8), context="conv_block", pass_="forward_backward")
    subject = context_spec("conv_block").subject(
        SubjectArgs(backend(backend_name), case, TIMING, 0))
    assert isinstance(subject, BlockSubject)
    s = subject.kern.params["s"]
    assert any(p is s for p in subject.module.parameters())
    grads = subject.main.run()
    named = dict(zip(["x", *(n for n, p in subject.module.named_parameters()
                             if p.requires_grad)], grads))
    ds = named["act.s"]
    assert ds is not None and ds.shape == s.shape and torch.isfinite(ds).all()
    assert float(ds.abs()) > 0


def test_contexts_are_registered_with_their_passes_and_cache_states() -> None:
    assert {"elementwise", "mlp_block", "conv_block"} <= set(context_names())
    assert context_spec("elementwise").default_cache == ("hot", "cold")
    assert context_spec("mlp_block").default_cache == ("hot",)
    assert not context_spec("conv_block").allows("backward")
    with pytest.raises(KeyError, match="unknown context 'nope'"):
        context_spec("nope")


def test_a_new_context_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    import gembench.spec.contexts as registry

    monkeypatch.setattr(registry, "_CONTEXTS", dict(registry._CONTEXTS))
    register_context(ContextSpec(name="toy", subject=BlockSubject, passes=("forward",),
                                 presets=["tiny"], resolve=lambda n, d: (4, 4), rank=2,
                                 shape_help="[a, b]"))
    suite = parse_suite({"context": "toy", "activations": ["gelu"], "backends": ["numpy"],
                         "shapes": ["tiny", [2, 2]]})
    assert {c.shape for c in suite.cases} == {(4, 4), (2, 2)}
    assert {c.pass_ for c in suite.cases} == {"forward"}
    with pytest.raises(SuiteError, match=r"shapes\[0\]: a toy shape is \[a, b\], found \[1\]"):
        parse_suite({"context": "toy", "activations": ["gelu"], "backends": ["numpy"],
                     "shapes": [[1]]})


def test_suite_cache_key_and_defaults() -> None:
    base = {"activations": ["gelu"], "backends": ["numpy"], "shapes": [1024],
            "passes": "forward"}
    both = parse_suite(base)
    assert sorted(c.cache for c in both.cases) == ["cold", "cold", "hot", "hot"]
    assert all(c.case_id.endswith("/" + c.cache) for c in both.cases)
    hot = parse_suite({**base, "cache": "hot", "timing": {"retry_busy": 2}})
    assert {c.cache for c in hot.cases} == {"hot"} and hot.timing.retry_busy == 2
    blocks = parse_suite({**base, "context": "mlp_block", "shapes": ["gpt2_small_mlp"]})
    assert {c.cache for c in blocks.cases} == {"hot"}
    with pytest.raises(SuiteError, match="cache"):
        parse_suite({**base, "cache": "warm"})


def test_case_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Case("numpy", "gelu")  # type: ignore[misc]


def test_the_worker_does_not_import_the_suite_layer() -> None:
    import subprocess
    import sys

    code = ("import sys, gembench.engine.running.worker, gembench.engine.running.measure\n"
            "from gembench.spec.contexts import context_names; context_names()\n"
            "bad = {'yaml', 'jsonschema', 'gembench.plan.suite'} & set(sys.modules)\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_last_level_cache_size_is_read_from_sysfs(tmp_path) -> None:
    from gembench.engine.measuring.cache import CpuFlush, llc_size

    for i, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"),
                                             (2, "Unified", "1024K"), (3, "Unified", "32M")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    assert llc_size(tmp_path) == (32 * 1024**2, f"sysfs {tmp_path}/index*/size")
    flush = CpuFlush(1 << 20, "test")
    assert flush.nbytes == 2 << 20 and flush.buffer.nbytes == 2 << 20
    flush()
    assert int(flush.buffer[0]) == 1
