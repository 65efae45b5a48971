"""How far auditors' grades agree with moderators': exact and within-one-grade agreement, quadratic-weighted
Cohen's kappa with a confidence interval that is honest for small groups, and the direction of disagreement.

Grades are given as ranks on the authority's scale (0 the worst). Kappa compares the agreement seen with
the agreement expected by chance from each rater's own spread of grades; the quadratic weights count a
disagreement of two grades four times one of a single grade, which suits an ordered scale. With every
grade the same on both sides there is no spread to judge against, and kappa is undefined (None).

The interval is the **expanded BCa bootstrap**: Efron's bias-corrected and accelerated percentile interval
(the acceleration from the jackknife), its tail levels widened for small samples as Hesterberg (2015) sets
out, from z = 1.96 to √(n / (n − 1)) · t(0.975, n − 1). Simulated (``bench/kappa_coverage.py``), it covers the
true kappa in at least 91 % of samples at every n from 10 and true kappa from 0.6 to 0.95, where the plain
percentile interval fell to 87 % at n = 10 and at n = 44 near kappa 0.9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 2_000
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Agreement:
    """Agreement between the auditors' and moderators' grades of the same audits."""

    audits: int
    exact: float
    within_one: float
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    auditor_higher: float
    auditor_lower: float


def table_kappas(tables: np.ndarray) -> np.ndarray:
    """Quadratic-weighted kappa of each count table in ``tables`` (..., levels, levels); NaN where undefined."""
    levels = tables.shape[-1]
    grid = np.arange(levels)
    weights = (grid[:, None] - grid[None, :]) ** 2 / (levels - 1) ** 2
    shares = tables / tables.sum(axis=(-2, -1), keepdims=True)
    expected = shares.sum(axis=-1)[..., :, None] * shares.sum(axis=-2)[..., None, :]
    disagreement_expected = (weights * expected).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 1 - (weights * shares).sum(axis=(-2, -1)) / disagreement_expected
    return np.where(disagreement_expected > 0, kappa, np.nan)


def _table(auditor: np.ndarray, moderator: np.ndarray, levels: int) -> np.ndarray:
    table = np.zeros((levels, levels))
    np.add.at(table, (auditor, moderator), 1)
    return table


def weighted_kappa(auditor: np.ndarray, moderator: np.ndarray, levels: int) -> float | None:
    """Quadratic-weighted Cohen's kappa of two raters' ranks (0..levels-1); None when it is undefined."""
    auditor = np.asarray(auditor, dtype=int)
    moderator = np.asarray(moderator, dtype=int)
    if len(auditor) == 0:
        return None
    kappa = float(table_kappas(_table(auditor, moderator, levels)))
    return None if math.isnan(kappa) else kappa


def kappa_interval(
    auditor: np.ndarray, moderator: np.ndarray, levels: int, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % expanded BCa bootstrap interval for the weighted kappa of paired ranks (see the module's
    docstring); resamples ``BOOTSTRAP_SAMPLES`` audits with replacement, seeded, so the same data gives the same
    interval. None where kappa is undefined or there are fewer than three pairs."""
    auditor = np.asarray(auditor, dtype=int)
    moderator = np.asarray(moderator, dtype=int)
    n = len(auditor)
    table = _table(auditor, moderator, levels)
    kappa = float(table_kappas(table))
    if n < 3 or math.isnan(kappa):
        return None
    cells = auditor * levels + moderator
    picks = np.random.default_rng(seed).integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
    offsets = np.arange(BOOTSTRAP_SAMPLES)[:, None] * levels * levels
    counts = np.bincount((cells[picks] + offsets).ravel(), minlength=BOOTSTRAP_SAMPLES * levels * levels)
    resampled = table_kappas(counts.reshape(BOOTSTRAP_SAMPLES, levels, levels).astype(float))
    resampled = resampled[~np.isnan(resampled)]
    if len(resampled) == 0:
        return None
    below = float(np.mean(resampled < kappa) + 0.5 * np.mean(resampled == kappa))
    bias = _NORMAL.inv_cdf(min(max(below, 0.5 / len(resampled)), 1 - 0.5 / len(resampled)))
    # The acceleration, from the jackknife: each audit left out in turn.
    left_out = table_kappas(table[None] - np.eye(levels * levels)[cells].reshape(n, levels, levels))
    left_out = left_out[~np.isnan(left_out)]
    spread = left_out.mean() - left_out
    squares = float((spread**2).sum())
    acceleration = float((spread**3).sum()) / (6 * squares**1.5) if squares > 0 else 0.0
    # scipy is imported here, not with the module: every command and flow imports this module, few compute this.
    from scipy.stats import t as student_t

    expanded = math.sqrt(n / (n - 1)) * float(student_t.ppf(0.975, n - 1))
    levels_at = [_NORMAL.cdf(bias + (bias + z) / (1 - acceleration * (bias + z))) for z in (-expanded, expanded)]
    low, high = np.quantile(resampled, levels_at)
    return float(low), float(high)


def agreement(auditor: np.ndarray, moderator: np.ndarray, levels: int, seed: int = 0, minimum: int = 2) -> Agreement:
    """The agreement figures for paired ranks, with the 95 % interval for kappa (``kappa_interval``); with
    fewer than ``minimum`` pairs, no kappa at all (see ``kappa_said``)."""
    auditor = np.asarray(auditor, dtype=int)
    moderator = np.asarray(moderator, dtype=int)
    n = len(auditor)
    if n == 0:
        return Agreement(0, 0.0, 0.0, None, None, None, 0.0, 0.0)
    difference = auditor - moderator
    kappa = weighted_kappa(auditor, moderator, levels) if n >= minimum else None
    interval = kappa_interval(auditor, moderator, levels, seed) if kappa is not None else None
    return Agreement(
        audits=n,
        exact=float(np.mean(difference == 0)),
        within_one=float(np.mean(np.abs(difference) <= 1)),
        kappa=kappa,
        kappa_low=interval[0] if interval else None,
        kappa_high=interval[1] if interval else None,
        auditor_higher=float(np.mean(difference > 0)),
        auditor_lower=float(np.mean(difference < 0)),
    )


def kappa_said(
    audits: int, exact: float, kappa: float | None, low: float | None, high: float | None, minimum: int
) -> str:
    """The kappa as a report gives it: with its interval; "too few moderated audits to say" below ``minimum``;
    for a sample that agrees exactly throughout (where the bootstrap interval would collapse to a point), the
    count and a one-sided 95 % lower bound of the agreement (Clopper-Pearson: 0.05 ** (1 / n))."""
    if audits < minimum:
        return f"too few moderated audits to say (fewer than {minimum})"
    if exact == 1.0:
        return f"all {audits} agree exactly: at least {0.05 ** (1 / audits):.0%} agreement (95% confidence)"
    if kappa is None:
        return "undefined: every grade the same on both sides"
    interval = f" ({low:.2f} to {high:.2f})" if low is not None and high is not None else ""
    return f"{kappa:.2f}{interval}"


def agreement_table(pairs: pd.DataFrame, by: list[str], levels: int, seed: int = 0, minimum: int = 2) -> pd.DataFrame:
    """Agreement per group of ``pairs`` (columns ``auditor_rank``, ``moderator_rank`` and ``by``), plus a
    row for all of them (its ``by`` columns read "all"); no kappa for a group of fewer than ``minimum``."""
    rows = []
    groups = [((), pairs)] if not by else list(pairs.groupby(by, sort=True))
    for key, group in groups:
        figures = agreement(group["auditor_rank"].to_numpy(), group["moderator_rank"].to_numpy(), levels, seed, minimum)
        names = key if isinstance(key, tuple) else (key,)
        rows.append(dict(zip(by, names, strict=True)) | vars(figures))
    if by:
        overall = agreement(pairs["auditor_rank"].to_numpy(), pairs["moderator_rank"].to_numpy(), levels, seed, minimum)
        rows.append(dict.fromkeys(by, "all") | vars(overall))
    return pd.DataFrame(rows)


def flagged_auditors(pairs: pd.DataFrame, threshold: float, min_audits: int) -> pd.DataFrame:
    """Auditors whose grades differ from moderation, on average and in one direction, by more than
    ``threshold`` grades over at least ``min_audits`` moderated audits: systematically high or low."""
    by_auditor = (
        pairs.assign(difference=pairs["auditor_rank"] - pairs["moderator_rank"])
        .groupby("auditor_id")["difference"]
        .agg(audits="size", mean_difference="mean")
        .reset_index()
    )
    flagged = by_auditor[(by_auditor["audits"] >= min_audits) & (by_auditor["mean_difference"].abs() > threshold)]
    return flagged.assign(
        direction=np.where(
            flagged["mean_difference"] > 0, "grades higher than moderation", "grades lower than moderation"
        )
    ).reset_index(drop=True)


def feedback_flags(pairs: pd.DataFrame, below: float, min_audits: int) -> pd.DataFrame:
    """Auditors whose feedback, as moderators judged it, names strengths and learning (or is constructive) in
    fewer than ``below`` of at least ``min_audits`` moderated audits."""
    rated = pairs.assign(
        both_named=pairs["names_strengths"].astype(bool) & pairs["names_learning"].astype(bool),
        constructive=pairs["feedback_constructive"].astype(bool),
    )
    by_auditor = (
        rated.groupby("auditor_id")
        .agg(
            audits=("both_named", "size"),
            names_strengths_and_learning=("both_named", "mean"),
            constructive=("constructive", "mean"),
        )
        .reset_index()
    )
    enough = by_auditor[by_auditor["audits"] >= min_audits]
    weak = enough[(enough["names_strengths_and_learning"] < below) | (enough["constructive"] < below)]
    return weak.reset_index(drop=True)
