"""Opt-in pytest-benchmark timings of a representative set of cases.

These time exactly what a gembench case times (the engine's
:func:`gembench.engine.contexts.subject.kernel_pass` on inputs made by
:func:`gembench.engine.contexts.subject.make_inputs`): ReLU, GELU and GEM(N=1) on torch_eager
and torch_fused, a 1M-element float32 tensor on the CPU, one thread, forward and
forward+backward. The numbers land in pytest-benchmark's JSON, so its own history and
comparison work.

They are skipped by default (``addopts`` in pyproject.toml has ``--benchmark-skip``); run them
with::

    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    # later, against the last saved run; fail on a median 10% slower:
    pytest tests/benchmarks --benchmark-only --benchmark-compare \\
        --benchmark-compare-fail=median:10%

(``--benchmark-only`` overrides the default ``--benchmark-skip``; saved runs go to
``.benchmarks/``.) Each call allocates a fresh 4 MiB output; with glibc's defaults that is an
mmap and page faults per call, which can dominate ReLU. For gembench's "caching" allocator
setting, start pytest with ``MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296``
(recorded in each benchmark's ``extra_info["allocator"]``).

For the full matrix with ratios to ReLU, memory and accuracy, use ``python -m gembench run``
and ``python -m gembench compare``.
"""

from __future__ import annotations

import os

import pytest

from gembench.backends import backend
from gembench.engine.contexts.subject import kernel_pass, make_inputs
from gembench.spec.cases import Case

SHAPE = (1024, 1024)
DTYPE = "float32"
THREADS = 1
ACTIVATIONS = [("relu", {}), ("gelu", {}), ("gem", {"N": 1})]
BACKENDS = ["torch_eager", "torch_fused"]
PASSES = ["forward", "forward_backward"]


def _params():
    for pass_ in PASSES:
        for name, params in ACTIVATIONS:
            for be in BACKENDS:
                case = Case(backend=be, activation=name, params=params, dtype=DTYPE,
                            shape=SHAPE, pass_=pass_, threads=THREADS)
                yield pytest.param(case, id=f"{pass_}-{case.label}-{be}")


def _allocator() -> str:
    from gembench.engine.measuring.environment import CACHING_ALLOCATOR_ENV

    caching = all(os.environ.get(k) == v for k, v in CACHING_ALLOCATOR_ENV.items())
    return "caching" if caching else "default"


@pytest.fixture
def one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", list(_params()))
def test_activation(benchmark, case: Case, one_thread) -> None:
    be = backend(case.backend)
    reason = be.unsupported(case.spec, case.dtype, case.device)
    if reason:
        pytest.skip(reason)
    kern = be.build(case.spec, dtype=case.dtype, device=case.device)
    x, dy = make_inputs(be, case, seed=0)  # preallocated once, outside the timed calls
    run = kernel_pass(kern, case.pass_, x, dy).run
    run()  # first call (allocations, lazy initialisation) outside the measurement
    benchmark.group = f"{case.pass_} {case.dtype} {'x'.join(map(str, case.shape))}"
    benchmark.extra_info.update({"case_id": case.case_id, "backend": case.backend,
                                 "activation": case.label, "pass": case.pass_,
                                 "numel": case.numel, "threads": case.threads,
                                 "allocator": _allocator()})
    benchmark.pedantic(run, rounds=30, iterations=1, warmup_rounds=3)
