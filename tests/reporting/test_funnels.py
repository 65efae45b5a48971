"""Funnel limits: exact binomial and Poisson quantiles as scipy computes them, a false-alarm rate within α/2 at
every team size, Spiegelhalter's over-dispersion worked by hand, and "too few to judge" where no count could
signal."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom, poisson

from qaloop.reporting.funnels import FEWEST_UNITS, binomial_quantile, exact_limits, judge, poisson_quantile


@pytest.mark.parametrize("confidence", [0.95, 0.998])
def test_exact_limits_are_scipys_binomial_and_poisson_quantiles(confidence: float) -> None:
    tail = (1 - confidence) / 2
    for n in (5, 10, 20, 50):
        for p in (0.05, 0.2, 0.5, 0.73, 0.9, 0.97):
            assert exact_limits("binomial", n, p, confidence) == (binom.ppf(tail, n, p), binom.ppf(1 - tail, n, p))
    for mean in (0.5, 1, 2, 3.7, 5, 10, 20):
        assert exact_limits("poisson", 100, mean / 100, confidence) == (
            poisson.ppf(tail, mean),
            poisson.ppf(1 - tail, mean),
        )


def test_quantiles_at_the_edges() -> None:
    assert binomial_quantile(0.025, 10, 0.0) == 0
    assert binomial_quantile(0.025, 10, 1.0) == 10
    assert poisson_quantile(0.975, 0.0) == 0


def _false_alarms(n: int, p: float, confidence: float = 0.95) -> float:
    """The chance that a team of ``n`` audits, at the authority's own rate, signals low."""
    lower, _ = exact_limits("binomial", n, p, confidence)
    return float(binom.cdf(lower - 1, n, p)) if lower > 0 else 0.0


def test_a_small_team_at_the_authoritys_rate_raises_a_false_alarm_no_more_than_chance_allows() -> None:
    # Five audits at 90 %: the exact limit signals at 2 or fewer good (0.86 %); the normal approximation's
    # limit, 0.9 - 1.96 * sqrt(0.09 / 5) = 0.637, signalled at 3 of 5 as well (8.1 %).
    assert _false_alarms(5, 0.9) == pytest.approx(0.00856, abs=1e-5)
    for n in (5, 10, 20, 50, 200):
        for p in (0.5, 0.7, 0.9, 0.95):
            assert _false_alarms(n, p) <= 0.025
    # Complaints expected 0.5: the exact limit signals at 3 or more (1.4 %), the normal one at 2 (9.0 %).
    _, upper = exact_limits("poisson", 1, 0.5, 0.95)
    assert upper == 2
    assert poisson.sf(upper, 0.5) == pytest.approx(0.0144, abs=1e-4)


def test_a_unit_that_no_count_could_take_beyond_the_limit_is_too_few_to_judge() -> None:
    # One audit at 95 %: even none good is not beyond (P = 0.05 > 0.025). No audits: nothing to judge.
    audits = judge(pd.Series([19, 0, 0, 950]), pd.Series([20, 1, 0, 1000]), "binomial", "low", 0.95)
    assert audits.verdicts.tolist() == ["within", "too few", "too few", "within"]
    assert audits.method == "exact binomial limits"
    # Compliments expected at about one: receiving none is not beyond (P = e^-1).
    praise = judge(pd.Series([1, 0, 500]), pd.Series([100, 100, 50_000]), "poisson", "low", 0.95)
    assert praise.verdicts.tolist()[:2] == ["too few", "too few"]
    # Complaints can always be too many.
    complaints = judge(pd.Series([0, 40]), pd.Series([100, 100]), "poisson", "high", 0.95)
    assert complaints.verdicts.tolist() == ["within", "beyond"]


SHARES = [0.3, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.7]


def _units(shares: list[float], n: int = 100) -> tuple[pd.Series, pd.Series]:
    return pd.Series([round(share * n) for share in shares]), pd.Series([n] * len(shares))


def test_over_dispersion_is_estimated_as_spiegelhalter_sets_out() -> None:
    # Ten teams of 100 at a pooled 50 %: standard error 0.05, z-scores -4, -2, 0 (six), 2, 4; winsorised at the
    # 10th and 90th percentiles (-2.2, 2.2): phi = (2.2² + 2² + 2² + 2.2²) / 10 = 1.768.
    hits, size = _units(SHARES)
    multiplicative = judge(hits, size, "binomial", "low", 0.95, "multiplicative")
    assert multiplicative.method == "normal binomial limits widened for over-dispersion (multiplicative, φ = 1.77)"
    # Limits 0.5 ± 1.96 · 0.05 · √1.768 = 0.5 ± 0.1303: 30 % is beyond, 40 % within.
    assert multiplicative.verdicts.tolist()[:2] == ["beyond", "within"]
    # Additive: weights 400 each, tau² = (10 · 1.768 - 9) / (4000 - 400) = 0.002411; tau = 0.0491.
    additive = judge(hits, size, "binomial", "low", 0.95, "additive")
    assert additive.method == "normal binomial limits widened for over-dispersion (additive, τ = 0.0491)"
    # Limits 0.5 ± 1.96 · √(0.0025 + 0.002411) = 0.5 ± 0.1374: 30 % is beyond, 40 % within.
    assert additive.verdicts.tolist()[:2] == ["beyond", "within"]
    # The same teams on exact limits (Binomial(100, 0.5): 40 is its 2.5 % quantile) flag the same one.
    assert judge(hits, size, "binomial", "low", 0.95).verdicts.tolist()[:2] == ["beyond", "within"]


def test_over_dispersion_applies_only_where_teams_vary_more_than_chance_and_there_are_enough() -> None:
    steady_hits, steady_size = _units([0.5] * 12)
    assert judge(steady_hits, steady_size, "binomial", "low", 0.95, "multiplicative").method == (
        "exact binomial limits"
    )
    few_hits, few_size = _units(SHARES[: FEWEST_UNITS - 1])
    assert judge(few_hits, few_size, "binomial", "low", 0.95, "additive").method == "exact binomial limits"


def test_widened_limits_flag_only_the_outliers_among_teams_that_differ_more_than_chance() -> None:
    # Thirty-eight teams of 200 whose own rates spread evenly from 40 % to 60 %, more than chance gives teams of
    # that size, and two real outliers at 22 % and 25 %. Exact limits flag the outliers and the four lowest of
    # the spread; widened for the spread, only the outliers.
    hits, size = _units([0.40 + 0.2 * i / 37 for i in range(38)] + [0.22, 0.25], 200)
    beyond = {
        method: judge(hits, size, "binomial", "low", 0.95, method).verdicts.eq("beyond")
        for method in ("none", "multiplicative", "additive")
    }
    assert list(beyond["none"][beyond["none"]].index) == [0, 1, 2, 3, 38, 39]
    assert list(beyond["multiplicative"][beyond["multiplicative"]].index) == [38, 39]
    assert list(beyond["additive"][beyond["additive"]].index) == [38, 39]


@given(
    teams=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda pair: (min(pair), max(pair))),
        min_size=2,
        max_size=25,
    ),
    method=st.sampled_from(["none", "multiplicative", "additive"]),
    family=st.sampled_from(["binomial", "poisson"]),
    worse=st.sampled_from(["low", "high"]),
    wider=st.floats(0.9, 0.999),
)
def test_widening_the_confidence_never_adds_a_flag(
    teams: list[tuple[int, int]], method: str, family: str, worse: str, wider: float
) -> None:
    hits, size = pd.Series([h for h, _ in teams]), pd.Series([n for _, n in teams])
    narrow = judge(hits, size, family, worse, 0.9, method).verdicts  # type: ignore[arg-type]
    wide = judge(hits, size, family, worse, max(wider, 0.9), method).verdicts  # type: ignore[arg-type]
    assert not (wide.eq("beyond") & ~narrow.eq("beyond")).any()
