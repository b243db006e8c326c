"""The Triton backend: out=, what autograd saves, the learnable gradient, odd inputs, metadata.

Kernels run in Triton's interpreter here (conftest sets TRITON_INTERPRET=1); one test compiles
them for an NVIDIA GPU target (no GPU needed) to check the compiled path and its instructions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SPEC_ARGS, spec_id

import gembench
from gembench.activations.dtypes import DTYPES
from gembench.activations.ops import NumpyOps
from gembench.activations.reference import reference_param_grads

BE = gembench.backend("triton")
FUSED = gembench.backend("torch_fused")
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

pytestmark = pytest.mark.skipif(not BE.availability(), reason=BE.availability().reason)


def _x(n: int = 3000, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values at several scales, spanning more than one kernel block."""
    rng = np.random.default_rng(seed)
    scales = rng.choice([1e-5, 1e-3, 1.0, 10.0, 1e3], n)
    return torch.from_numpy(rng.standard_normal(n) * scales).to(dtype)


def _build(name: str = "gem", dtype: str = "float32", **params):
    return BE.build(gembench.activation(name, **params), dtype=dtype, device="cpu")


# --------------------------------------------------------------------------- out=


def test_out_is_written_and_returned():
    kern = _build("se_gem", N=2)
    x = _x()
    out = torch.full_like(x, float("nan"))
    with torch.no_grad():
        y = kern.forward(x, out=out)
    assert y is out
    assert torch.equal(out, kern.forward(x))
    assert not torch.isnan(out).any()


def test_out_under_autograd_is_marked_in_place_and_differentiates():
    kern = _build("silu")
    x = _x().requires_grad_(True)
    out = torch.empty_like(x)
    version = out._version
    y = kern.forward(x, out=out)
    assert y is out and y.grad_fn is not None and out._version > version
    dy = torch.randn_like(x)
    y.backward(dy)
    assert torch.equal(x.grad, kern.grads(x, dy)[0])


@pytest.mark.parametrize("bad", ["shape", "dtype", "strided", "alias"])
def test_out_mismatch_raises(bad):
    kern = _build("relu")
    x = _x(64)
    out = {
        "shape": torch.empty(65),
        "dtype": torch.empty(64, dtype=torch.float16),
        "strided": torch.empty(128)[::2],
        "alias": x,
    }[bad]
    with pytest.raises(ValueError, match="out must"):
        kern.forward(x, out=out)


# --------------------------------------------------------------------------- autograd


@pytest.mark.parametrize("name", ["relu", "gelu", "gem", "se_gem", "lambda_gelu_learnable"])
def test_only_x_is_saved_for_backward(name):
    kern = _build(name)
    x = _x().requires_grad_(True)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = kern.forward(x)
    assert len(saved) == 1, [tuple(t.shape) for t in saved]
    assert saved[0].data_ptr() == x.data_ptr() and saved[0].shape == x.shape
    y.sum().backward()  # the saved x suffices for backward
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("arg", SPEC_ARGS, ids=spec_id)
def test_autograd_backward_equals_grads_and_matches_torch_fused(arg):
    spec = gembench.activation(arg[0], **arg[1])
    kern = BE.build(spec, dtype="float32", device="cpu")
    ref = FUSED.build(spec, dtype="float32", device="cpu")
    x = _x(seed=1)
    dy = torch.from_numpy(np.random.default_rng(2).uniform(-2, 2, x.numel())).float()
    xg = x.clone().requires_grad_(True)
    kern.forward(xg).backward(dy)
    dx, pgrads = kern.grads(x, dy)
    assert torch.equal(xg.grad, dx)  # the same backward kernel either way
    ref_dx, ref_p = ref.grads(x, dy)
    assert torch.allclose(dx, ref_dx, rtol=1e-5, atol=1e-6)
    assert torch.allclose(kern.forward(x), ref.forward(x).detach(), rtol=1e-5, atol=1e-6)
    assert set(pgrads) == set(ref_p)
    if spec.learnable:
        assert torch.equal(kern.params["s"].grad, pgrads["s"])
        assert pgrads["s"].shape == kern.params["s"].shape
        assert pgrads["s"].dtype == torch.float32


@pytest.mark.parametrize("s", [0.0, 1.0, -0.5])
@pytest.mark.parametrize("dt", ["float32", "bfloat16"])
def test_learnable_gradient_matches_torch_fused_and_reference(s, dt):
    """dL/ds is reduced over several programs (per-program partial sums, then summed)."""
    spec = gembench.activation("lambda_gelu_learnable", s=s, t=0.1)
    kern = BE.build(spec, dtype=dt, device="cpu")
    fused = FUSED.build(spec, dtype=dt, device="cpu")
    x = _x(5000, seed=3, dtype=TORCH_DTYPES[dt])  # 5 blocks of 1024, a partial last one
    dy = torch.from_numpy(np.random.default_rng(4).uniform(-2, 2, x.numel())).to(x.dtype)
    ds = kern.grads(x, dy)[1]["s"]
    ds_fused = fused.grads(x, dy)[1]["s"]
    terms = np.abs(spec.param_grad_terms(NumpyOps(np.float64), x.double().numpy(),
                                         dy.double().numpy())["s"])
    ref = reference_param_grads(spec, x.double().numpy(), dy.double().numpy())["s"]
    budget = 64 * DTYPES["float32"].eps * terms.sum()
    assert abs(float(ds) - ref) <= budget, (float(ds), ref)
    assert abs(float(ds) - float(ds_fused)) <= 2 * budget
    assert abs(ref) > 10 * budget  # the check is not vacuous


# --------------------------------------------------------------------------- odd inputs


def test_non_contiguous_input_and_expanded_dy():
    kern = _build("e_gem", N=2, eps=1e-6)
    base = _x(4000).reshape(40, 100)
    x = base[:, ::2]
    assert not x.is_contiguous()
    y = kern.forward(x)
    assert y.shape == x.shape
    assert torch.equal(y, kern.forward(x.contiguous()))
    xg = x.detach().requires_grad_(True)
    kern.forward(xg).sum().backward()  # dy arrives as an expanded, stride-0 tensor
    assert torch.equal(xg.grad, kern.grads(x.contiguous(), torch.ones_like(y))[0])


def test_multidimensional_shape_is_kept():
    kern = _build("mish")
    x = _x(3 * 7 * 11).reshape(3, 7, 11)
    y = kern.forward(x)
    assert y.shape == (3, 7, 11)
    assert torch.equal(y.flatten(), kern.forward(x.flatten()))


@pytest.mark.parametrize("name", ["gelu", "lambda_gelu_learnable"])
def test_empty_input(name):
    kern = _build(name)
    x = torch.empty(0, 3)
    y = kern.forward(x)
    assert y.shape == (0, 3) and y.dtype == x.dtype
    dx, pgrads = kern.grads(x, torch.empty(0, 3))
    assert dx.shape == (0, 3)
    if name == "lambda_gelu_learnable":
        assert float(pgrads["s"]) == 0.0
    xg = x.clone().requires_grad_(True)
    kern.forward(xg).sum().backward()
    assert xg.grad.shape == (0, 3)


def test_float64_is_unsupported_with_a_reason():
    spec = gembench.activation("gem")
    reason = BE.unsupported(spec, "float64", "cpu")
    assert reason and "float64" in reason
    assert BE.unsupported(spec, "float32", "cpu") is None
    with pytest.raises(RuntimeError, match="float64"):
        BE.build(spec, dtype="float64", device="cpu")
    with pytest.raises(TypeError, match="float32"):
        _build("gem").forward(torch.zeros(4, dtype=torch.float64))


def test_bfloat16_rounds_once_to_nearest_even_and_keeps_subnormals():
    """bfloat16 results are the float32 results rounded once (as torch rounds them)."""
    x16 = torch.cat([_x(2000, seed=5), torch.tensor([1e-39, -3e-40, 9.2e-41, 3e38, 0.0])])
    x16 = x16.to(torch.bfloat16)
    y16 = _build("silu", "bfloat16").forward(x16)
    y32 = _build("silu", "float32").forward(x16.float())
    assert torch.equal(y16.view(torch.int16), y32.to(torch.bfloat16).view(torch.int16))
    sub = torch.tensor([1e-39, 3e-40, 9.2e-41], dtype=torch.bfloat16)  # subnormal in bfloat16
    assert torch.equal(_build("relu", "bfloat16").forward(sub), sub)
    assert (sub.float() > 0).all()


# --------------------------------------------------------------------------- metadata


def test_backend_metadata():
    assert BE.name == "triton"
    assert BE.dtypes == ("float32", "float16", "bfloat16")
    assert BE.devices == ("cpu", "cuda")
    assert "interpreter" in BE.timing_unsupported("cpu")
    assert BE.worker_env("cpu", "/r") == {"TRITON_INTERPRET": "1"}
    assert BE.worker_env("cuda", "/r") == {"TRITON_CACHE_DIR": "/r/triton-cache"}
    kern = _build("gem")
    kern.forward(_x(10))
    info = kern.describe()
    assert info["interpreter"] is True
    assert info["block_size"] == 1024 and info["num_warps"] == 4
    assert kern.supports_out and kern.autograd


def test_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    reason = BE.unsupported(gembench.activation("relu"), "float32", "cpu")
    assert reason and "TRITON_INTERPRET" in reason
    assert BE.timing_unsupported("cuda") is None
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert BE.unsupported(gembench.activation("relu"), "float32", "cpu") is None
    assert BE.timing_unsupported("cuda")  # interpreted CUDA timings mean nothing either


def test_unavailable_without_triton(monkeypatch):
    from gembench.backends.triton_backend import TritonBackend

    monkeypatch.setitem(sys.modules, "triton", None)  # import triton -> ImportError
    be = TritonBackend()
    avail = be.availability()
    assert not avail and "triton" in avail.reason
    assert be.unsupported(gembench.activation("relu"), "float32", "cpu") == avail.reason


# --------------------------------------------------------------------------- compiled kernels

_COMPILE = textwrap.dedent("""
    import json
    import re
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from gembench.backends import triton_kernels as tk
    assert not tk.INTERPRET
    target = GPUTarget("cuda", 90, 32)
    common = {"s_ptr": "*fp32", "n_elements": "i32", "lam": "fp32", "eps": "fp32",
              "inv_eps": "fp32", "tclamp": "fp32", "t": "fp32"}
    fwd = {"x_ptr": "*bf16", "y_ptr": "*bf16", **common, "ACT": "constexpr", "N": "constexpr",
           "BF16_BITS": "constexpr", "BLOCK": "constexpr"}
    bwd = {"x_ptr": "*fp16", "dy_ptr": "*fp16", "dx_ptr": "*fp16", "partial_ptr": "*fp32",
           **common, "ACT": "constexpr", "N": "constexpr", "REDUCE": "constexpr",
           "BF16_BITS": "constexpr", "BLOCK": "constexpr"}
    ops = {}
    for act in tk.ACTIVATIONS:
        n = 2 if "gem" in act else 1
        consts = {"ACT": act, "N": n, "BF16_BITS": False, "BLOCK": 1024}
        ptx = triton.compile(ASTSource(tk._forward_kernel, fwd, constexprs=consts),
                             target=target, options={"num_warps": 4}).asm["ptx"]
        consts["REDUCE"] = act == "lambda_gelu_learnable"
        ptx += triton.compile(ASTSource(tk._backward_kernel, bwd, constexprs=consts),
                              target=target, options={"num_warps": 4}).asm["ptx"]
        ops[act] = {op: len(re.findall(r"\\b" + re.escape(op), ptx)) for op in
                    ("ex2.", "lg2.", "sqrt.", "rsqrt.", "sin.", "cos.", "tanh.", "div.rn.f32",
                     "div.full.f32", "div.approx", "rcp.", "ftz.", "red.", "atom.", "selp.")}
    print(json.dumps(ops))
""")


def test_compiled_kernels_gem_family_is_transcendental_free(tmp_path):
    """Compile every activation for an sm_90 target (no GPU needed): the GEM family's PTX has
    no transcendental instruction, IEEE division only, no flushing of subnormals, no atomics."""
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = str(Path(__file__).resolve().parents[1])
    env.update(TRITON_CACHE_DIR=str(tmp_path), TRITON_DEFAULT_FP_FUSION="1",
               PYTHONPATH=os.pathsep.join([root, env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _COMPILE], env=env, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode and "ptxas" in proc.stderr and "not found" in proc.stderr:
        pytest.skip("no ptxas to assemble for the GPU target")
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    ops = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(ops) == set(gembench.activation_names()) - {"relu2", "squareplus"}  # generated
    for act, counts in ops.items():
        assert counts["red."] == 0 and counts["atom."] == 0, act  # deterministic reductions
        if act in ("gem", "e_gem", "se_gem"):
            # forward + backward kernels: one division per element each (se_gem: two), no
            # select; each of the 4 warps' 32 threads handles 1024 / 128 = 8 elements
            per_element = counts["div.rn.f32"] / 8
            assert 0 < per_element <= (4 if act == "se_gem" else 2), (act, counts)
            bad = {k: v for k, v in counts.items() if v and k != "div.rn.f32"}
            assert not bad, (act, bad)
    # the check can see a transcendental: the baselines built on exp/erf have them
    assert ops["silu"]["ex2."] > 0 and ops["gelu"]["ex2."] > 0
