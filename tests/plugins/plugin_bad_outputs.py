"""Implementations that return the wrong thing: each case of theirs must fail with the reason."""

import torch

import gembench

_calls = {"n": 0}


def _gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    r = torch.relu(x)
    u = r.pow(2 * N)
    return r * u / (1 + u)


@gembench.register_implementation(name="f64_gem", activations=["gem"], dtypes=["float32"])
def f64_gem(x, N=1):
    return _gem(x.double(), N)


@gembench.register_implementation(name="flat_gem", activations=["gem"], dtypes=["float32"])
def flat_gem(x, N=1):
    return _gem(x, N).reshape(-1)[:-1]


@gembench.register_implementation(name="nan_gem", activations=["gem"], dtypes=["float32"])
def nan_gem(x, N=1):
    return _gem(x, N) * float("nan")


@gembench.register_implementation(name="list_gem", activations=["gem"], dtypes=["float32"])
def list_gem(x, N=1):
    return _gem(x, N).tolist()


@gembench.register_implementation(name="flaky_gem", activations=["gem"], dtypes=["float32"])
def flaky_gem(x, N=1):
    _calls["n"] += 1
    if _calls["n"] > 3:
        raise RuntimeError("flaky_gem gives up after 3 calls")
    return _gem(x, N)
