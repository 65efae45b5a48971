"""The methods page: each statistic the reports show, its formula, its source and the fewest cases for a
reading, worded once for the data pack's "Methods" sheet, the summary report and the README."""

from __future__ import annotations

from dataclasses import dataclass

from qaloop.core.settings import Settings


@dataclass(frozen=True)
class Method:
    """One statistic as the methods page gives it."""

    statistic: str
    formula: str
    source: str
    minimum: str


def methods(settings: Settings) -> list[Method]:
    """The methods behind the reports, with this configuration's settings filled in."""
    reports, triangulation, moderation = settings.reports, settings.triangulation, settings.moderation
    confidence = f"{triangulation.confidence:.0%}"
    fixed = (
        f"fixed on the first {reports.spc_baseline_points} cycles of each period"
        if reports.spc_baseline_points
        else "pooled over every cycle of the period shown"
    )
    widened = {
        "none": "not widened",
        "multiplicative": "widened by √φ, φ the mean squared z-score winsorised at 10 % (multiplicative)",
        "additive": "widened by a between-team variance τ² (additive, DerSimonian-Laird from the same φ)",
    }[triangulation.overdispersion]
    return [
        Method(
            "p-chart of the share good or better",
            f"centre line p̄ {fixed}; limits p̄ ± 3·√(p̄(1−p̄)/nᵢ) for each cycle's nᵢ audits; a recalculation "
            "starts a new period with its own centre line",
            "NHS England, Making Data Count; NHSRplotthedots",
            f"{reports.spc_min_points} cycles: limits from fewer are provisional and read no special cause",
        ),
        Method(
            "special cause on a p-chart",
            f"outside the limits; a trend of {reports.spc_run} rising or falling; two of three beyond 2σ on one "
            f"side (a point beyond 3σ counts as outside); a shift of {reports.spc_run} on one side; improvement "
            "or concern from the rule's direction and the measure's polarity",
            "NHS England, Making Data Count; NHSRplotthedots",
            f"{reports.spc_min_points} cycles in the period",
        ),
        Method(
            "assurance against the target",
            (
                f"where the target ({reports.good_share_target:.0%}) lies against the latest limits: beyond them "
                "on the worse side, consistently met; on the better side, consistently missed; within, hit and miss"
                if reports.good_share_target is not None
                else "no target set (reports.good_share_target)"
            ),
            "NHS England, Making Data Count",
            f"{reports.spc_min_points} cycles in the period",
        ),
        Method(
            "funnel limits for shares",
            "audits good or better, complaints upheld and survey answers satisfied: "
            f"the exact binomial {confidence} limits Binomial(n, p)'s α/2 and 1 − α/2 quantiles at the authority's "
            f"pooled share p; {widened}",
            "Spiegelhalter (2005), Funnel plots for comparing institutional performance",
            "a team for which no count could lie beyond the limit is too few to judge",
        ),
        Method(
            "funnel limits for counts",
            f"complaints and compliments per open case: the exact Poisson {confidence} limits about the count "
            f"expected at the authority's rate for the team's open cases; {widened}",
            "Spiegelhalter (2005)",
            "a team expected to receive too few for none to be beyond the limit is too few to judge",
        ),
        Method(
            "weighted kappa (auditors against moderators)",
            "κ = 1 − Σ wᵢⱼ pᵢⱼ / Σ wᵢⱼ pᵢ. p.ⱼ with quadratic weights wᵢⱼ = (i − j)² / (k − 1)²; 95 % interval "
            "the expanded BCa bootstrap (2,000 resamples; bias correction and jackknife acceleration; tails "
            "at √(n/(n−1))·t(0.975, n−1))",
            "Cohen (1968); Fleiss, Cohen & Everitt (1969); Efron (1987); Hesterberg (2015)",
            f"{moderation.kappa_min_audits} moderated audits (fewer: too few to say)",
        ),
        Method(
            "agreement when every moderated audit agrees",
            "the count, and the one-sided 95 % lower bound of the agreement rate, 0.05^(1/n) (Clopper-Pearson)",
            "Clopper & Pearson (1934)",
            f"{moderation.kappa_min_audits} moderated audits",
        ),
        Method(
            "complaint themes rising",
            f"the theme's complaints above the exact Poisson {confidence} upper limit about the mean of the "
            "earlier windows",
            "Spiegelhalter (2005)",
            "one earlier window",
        ),
    ]
