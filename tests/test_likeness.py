"""ReLU-likeness figures against closed forms and mpmath quadrature."""

from __future__ import annotations

import math

import mpmath
import pytest

from gembench.activations.catalog import activation
from gembench.activations.likeness import (
    dead_share,
    egem_exponents,
    fitted_exponent,
    lambda_gelu_table,
    likeness,
    likeness_markdown,
    likeness_table,
    lp_distance,
    paper_specs,
    sup_gap,
)
from gembench.cli import main


def test_relu_is_its_own_distance_zero_and_half_dead() -> None:
    row = likeness(activation("relu"))
    assert all(row[k] == 0.0 for k in row if k.startswith("L"))
    assert row["sup"] == 0.0
    assert all(row[f"dead s={s}"] == pytest.approx(0.5, abs=1e-12) for s in ("0.1", "1", "10"))


def _mp_gelu_l2_squared() -> mpmath.mpf:
    # gap(x) = x Phi(x) for x < 0 and -x Phi(-x) for x > 0: twice the negative half
    with mpmath.workdps(30):
        return 2 * mpmath.quad(lambda x: (x * mpmath.ncdf(x)) ** 2 * mpmath.npdf(x),
                               [-mpmath.inf, -1, 0])


def test_gelu_l2_distance_matches_mpmath() -> None:
    want = float(mpmath.sqrt(_mp_gelu_l2_squared()))
    assert lp_distance(activation("gelu"), 2, 1.0) == pytest.approx(want, rel=1e-9)


def test_egem_l1_matches_mpmath_at_small_eps() -> None:
    # the gap is -x / (1 + (x/eps)^2) for x > 0: f - x cancels in float64 for x >> eps
    eps = mpmath.mpf("1e-6")
    with mpmath.workdps(30):
        want = float(mpmath.quad(lambda x: x / (1 + (x / eps) ** 2) * mpmath.npdf(x),
                                 [0, eps, 100 * eps, 1e-2, 1, 10, 40]))
    got = lp_distance(activation("e_gem", N=1, eps=1e-6), 1, 1.0)
    assert got == pytest.approx(want, rel=1e-8, abs=0)


def test_gelu_sup_and_dead_share() -> None:
    # sup |x Phi(x)| over x < 0 is at the root of Phi(x) + x phi(x) = 0, x ~ -0.7518
    with mpmath.workdps(30):
        x0 = mpmath.findroot(lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x), -0.75)
        want = float(abs(x0 * mpmath.ncdf(x0)))
    assert sup_gap(activation("gelu"))[0] == pytest.approx(want, rel=1e-10)
    # |f'| < 1e-3: far left tail and a narrow dip around x0, both below the mean
    share = dead_share(activation("gelu"), 1.0)
    assert 0.0 < share < 0.01


def test_se_gem_sup_is_its_saturation_at_minus_infinity() -> None:
    sup, where = sup_gap(activation("se_gem", N=1, eps=1e-4))
    assert sup == pytest.approx(1e-4, rel=1e-12, abs=0) and where == -math.inf


def test_lambda_gelu_error_falls_like_one_over_lambda() -> None:
    rows = lambda_gelu_table((4, 8, 16, 32, 64))
    lams = [r["lam"] for r in rows]
    assert fitted_exponent(lams, [r["sup"] for r in rows]) == pytest.approx(-1, abs=1e-6)
    # under N(0, 1) the gap's width also shrinks like 1/lam: L^p ~ lam^-(1 + 1/p)
    assert fitted_exponent(lams, [r["L1 s=1"] for r in rows]) == pytest.approx(-2, abs=0.02)
    assert fitted_exponent(lams, [r["L2 s=1"] for r in rows]) == pytest.approx(-1.5, abs=0.02)


@pytest.mark.parametrize("p", [2, math.inf])
def test_egem_lp_exponent_is_one_plus_one_over_p(p: float) -> None:
    for row in egem_exponents(ns=(1, 2), ps=(p,)):
        assert row["measured"] == pytest.approx(row["expected"], abs=0.01), row


def test_egem_l1_n1_carries_a_log_factor() -> None:
    (row,) = egem_exponents(ns=(1,), ps=(1,))
    assert row["measured"] < 1.95
    assert row["measured / log(1/eps)"] == pytest.approx(2.0, abs=0.02)


def test_table_and_markdown_cover_every_paper_config() -> None:
    specs = paper_specs(["gelu", "se_gem"])
    rows = likeness_table(specs)
    assert [r["activation"] for r in rows] == [s.label for s in specs]
    text = likeness_markdown(rows)
    assert text.count("\n") == len(rows) + 1 and "se_gem(N=2, eps=0.0001)" in text
    assert "-inf" in text and "nan" not in text


def test_cli_likeness_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["likeness", "relu", "gem"]) == 0
    out = capsys.readouterr().out
    assert "gem(N=2)" in out and "silu" not in out


def test_cli_likeness_unknown_activation_is_a_user_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["likeness", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
