"""How far auditors' grades agree with moderators': exact and within-one-grade agreement, quadratic-weighted
Cohen's kappa with a bootstrap confidence interval, and the direction of disagreement.

Grades are given as ranks on the authority's scale (0 the worst). Kappa compares the agreement seen with
the agreement expected by chance from each rater's own spread of grades; the quadratic weights count a
disagreement of two grades four times one of a single grade, which suits an ordered scale. With every
grade the same on both sides there is no spread to judge against, and kappa is undefined (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 2_000


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


def weighted_kappa(auditor: np.ndarray, moderator: np.ndarray, levels: int) -> float | None:
    """Quadratic-weighted Cohen's kappa of two raters' ranks (0..levels-1); None when it is undefined."""
    auditor = np.asarray(auditor, dtype=int)
    moderator = np.asarray(moderator, dtype=int)
    if len(auditor) == 0:
        return None
    observed = np.zeros((levels, levels))
    np.add.at(observed, (auditor, moderator), 1)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.arange(levels)
    weights = (grid[:, None] - grid[None, :]) ** 2 / (levels - 1) ** 2
    disagreement_expected = (weights * expected).sum()
    if disagreement_expected == 0:
        return None
    return float(1 - (weights * observed).sum() / disagreement_expected)


def agreement(auditor: np.ndarray, moderator: np.ndarray, levels: int, seed: int = 0, minimum: int = 2) -> Agreement:
    """The agreement figures for paired ranks, with a 95 % percentile bootstrap interval for kappa; with fewer
    than ``minimum`` pairs, no kappa at all (see ``kappa_said``).

    The interval resamples audits with replacement (``BOOTSTRAP_SAMPLES`` times, seeded, so the same data
    gives the same interval); resamples where kappa is undefined are left out.
    """
    auditor = np.asarray(auditor, dtype=int)
    moderator = np.asarray(moderator, dtype=int)
    n = len(auditor)
    if n == 0:
        return Agreement(0, 0.0, 0.0, None, None, None, 0.0, 0.0)
    difference = auditor - moderator
    kappa = weighted_kappa(auditor, moderator, levels) if n >= minimum else None
    low = high = None
    if kappa is not None and n > 1:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
        values = [weighted_kappa(auditor[p], moderator[p], levels) for p in picks]
        defined = np.array([v for v in values if v is not None])
        if len(defined):
            low, high = (float(x) for x in np.percentile(defined, [2.5, 97.5]))
    return Agreement(
        audits=n,
        exact=float(np.mean(difference == 0)),
        within_one=float(np.mean(np.abs(difference) <= 1)),
        kappa=kappa,
        kappa_low=low,
        kappa_high=high,
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
