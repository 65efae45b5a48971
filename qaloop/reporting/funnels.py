"""Funnel limits: whether a team's count is further from the authority's own rate than chance alone would take
a team of its size, by the exact binomial (shares) and Poisson (counts) distributions, optionally widened for
over-dispersion as Spiegelhalter (2005) sets out.

A share ``hits`` of ``n`` is judged against Binomial(n, p), p the authority's pooled share; a count of events
against Poisson(e), e the count expected at the authority's rate for the team's exposure. At confidence c the
limits are the distribution's α/2 and 1 − α/2 quantiles (α = 1 − c): a count below the lower quantile, or
above the upper, is beyond the funnel, which is the exact one-sided test at α/2 on the side that matters.
Exact limits keep the chance of a false alarm at most α/2 for any team size, where limits from the normal
approximation give a team of 5 audits at 90 % a false alarm in 8.2 % of windows (0.9 % exact).

Over-dispersion: where teams differ from one another by more than chance (case mix, recording), exact
limits flag too many. ``multiplicative`` widens each team's normal-approximation standard error by √φ, φ the
mean of the squared z-scores winsorised at 10 % each side; ``additive`` adds a between-team variance τ²
(DerSimonian and Laird's moment estimate from the same φ). Either applies only when φ > 1 with at least
``FEWEST_UNITS`` units to estimate it from; otherwise the exact limits stand, and the method says so.

A unit for which no count could lie beyond the limit on the side that matters (a team of two audits at an
authority rate of 95 %; a team expected to receive one compliment) is **too few to judge**, never "within".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import pandas as pd

Family = Literal["binomial", "poisson"]
Side = Literal["low", "high"]
Overdispersion = Literal["none", "multiplicative", "additive"]
Verdict = Literal["beyond", "within", "too few"]

FEWEST_UNITS = 10  # below this, an estimate of over-dispersion is too unsteady to widen limits with
WINSORISED = 0.10  # Spiegelhalter (2005): z-scores winsorised at the 10th and 90th percentiles


@dataclass(frozen=True)
class Judged:
    """Each unit's verdict on one measure, and the method the limits came from, in words."""

    verdicts: pd.Series
    method: str


def binomial_quantile(q: float, n: int, p: float) -> int:
    """The smallest k with P(X ≤ k) ≥ q for X ~ Binomial(n, p)."""
    if p <= 0:
        return 0
    if p >= 1:
        return n
    total, k = 0.0, 0
    log_p, log_q = math.log(p), math.log1p(-p)
    while k < n:
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
        )
        if total >= q:
            return k
        k += 1
    return n


def poisson_quantile(q: float, mean: float) -> int:
    """The smallest k with P(X ≤ k) ≥ q for X ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    total, k = 0.0, 0
    log_mean = math.log(mean)
    while True:
        total += math.exp(k * log_mean - mean - math.lgamma(k + 1))
        if total >= q or (k > mean and total >= 1 - 1e-15):
            return k
        k += 1


def exact_limits(family: Family, size: float, rate: float, confidence: float) -> tuple[int, int]:
    """The counts at the funnel's lower and upper limits for one unit: a count below the first, or above the
    second, is beyond. ``size`` is n (binomial) or the exposure (Poisson), ``rate`` the authority's share or
    its events per unit of exposure."""
    tail = (1 - confidence) / 2
    if family == "binomial":
        n = int(size)
        return binomial_quantile(tail, n, rate), binomial_quantile(1 - tail, n, rate)
    mean = size * rate
    return poisson_quantile(tail, mean), poisson_quantile(1 - tail, mean)


def judge(
    hits: pd.Series,
    size: pd.Series,
    family: Family,
    worse: Side,
    confidence: float,
    overdispersion: Overdispersion = "none",
) -> Judged:
    """Each unit's verdict: ``beyond`` the limit on the ``worse`` side, ``within``, or ``too few`` to judge
    (no data, or no count that could be beyond), judged against the units' pooled rate."""
    verdicts = pd.Series("too few", index=hits.index, dtype="object")
    total_size = float(size.sum())
    if total_size <= 0:
        return Judged(verdicts, "no data to judge against")
    rate = float(hits.sum()) / total_size
    widened = _widening(hits, size, family, rate, overdispersion)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    for index in hits.index:
        n, count = float(size[index]), float(hits[index])
        if n <= 0:
            continue
        if widened is None:
            lower, upper = exact_limits(family, n, rate, confidence)
            reachable = lower > 0 if worse == "low" else (family == "poisson" or upper < n)
            beyond = count < lower if worse == "low" else count > upper
        else:
            expected, spread = n * rate, z * math.sqrt(widened.variance(n, rate)) * n
            reachable = expected - spread > 0 if worse == "low" else (family == "poisson" or expected + spread < n)
            beyond = count < expected - spread if worse == "low" else count > expected + spread
        if reachable:
            verdicts[index] = "beyond" if beyond else "within"
    return Judged(verdicts, widened.method if widened else _EXACT[family])


_EXACT = {"binomial": "exact binomial limits", "poisson": "exact Poisson limits"}


@dataclass(frozen=True)
class _Widening:
    """Over-dispersion found among the units: φ (multiplicative) or τ² (additive), on the rate's scale."""

    kind: Literal["multiplicative", "additive"]
    binomial: bool
    phi: float
    tau2: float = 0.0

    def variance(self, n: float, rate: float) -> float:
        """The variance of one unit's rate (a share, or events per unit of exposure) about the authority's."""
        chance = rate * (1 - rate) / n if self.binomial else rate / n
        return chance * self.phi if self.kind == "multiplicative" else chance + self.tau2

    @property
    def method(self) -> str:
        family = "binomial" if self.binomial else "Poisson"
        widened = f"normal {family} limits widened for over-dispersion"
        if self.kind == "multiplicative":
            return f"{widened} (multiplicative, φ = {self.phi:.2f})"
        return f"{widened} (additive, τ = {math.sqrt(self.tau2):.3g})"


def _widening(
    hits: pd.Series, size: pd.Series, family: Family, rate: float, overdispersion: Overdispersion
) -> _Widening | None:
    """Spiegelhalter's estimate of over-dispersion among the units, or None where it does not apply."""
    if overdispersion == "none" or rate <= 0 or (family == "binomial" and rate >= 1):
        return None
    kept = size > 0
    n, count = size[kept].astype(float), hits[kept].astype(float)
    if len(n) < FEWEST_UNITS:
        return None
    chance = rate * (1 - rate) / n if family == "binomial" else rate / n
    z = (count / n - rate) / chance.pow(0.5)
    z = z.clip(z.quantile(WINSORISED), z.quantile(1 - WINSORISED))
    units = len(z)
    phi = float((z**2).mean())
    if phi <= 1:
        return None
    if overdispersion == "multiplicative":
        return _Widening("multiplicative", family == "binomial", phi)
    weights = 1 / chance
    tau2 = (units * phi - (units - 1)) / float(weights.sum() - (weights**2).sum() / weights.sum())
    return _Widening("additive", family == "binomial", phi, tau2) if tau2 > 0 else None
