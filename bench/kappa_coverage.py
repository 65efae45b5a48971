"""How often the reports' kappa interval holds the true kappa: a simulation of moderated samples.

A population of audits is a joint distribution of (auditor's grade, moderator's grade) on a four-grade scale:
the moderator's grade drawn from ``marginals``, the auditor's the same with a chance ``a``, else one grade
off (80 %) or two (20 %), reflected at the ends of the scale; ``a`` is solved so that the population's
weighted kappa is the true kappa asked for. Samples of ``n`` audits are drawn, and each sample's interval
(``agreement.agreement``, as the reports compute it) is checked against the true kappa. A sample that agrees
exactly throughout shows no kappa interval in the reports (``agreement.kappa_said`` gives a lower bound on
agreement instead): those are counted apart. Run with ``.venv/bin/python bench/kappa_coverage.py [--reps N]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from qaloop.moderation.agreement import agreement, table_kappas

LEVELS = 4
POPULATIONS = {
    "grades spread (the demo's)": (0.12, 0.29, 0.30, 0.29),
    "mostly good": (0.04, 0.16, 0.60, 0.20),
    "mostly requires improvement": (0.10, 0.45, 0.30, 0.15),
}


@dataclass(frozen=True)
class Coverage:
    """Of ``samples`` drawn: ``with_interval`` showed an interval, ``covered`` of them held the true kappa;
    ``all_agree`` showed the perfect-agreement bound instead."""

    samples: int
    with_interval: int
    covered: int
    all_agree: int
    median_width: float

    @property
    def share(self) -> float:
        return self.covered / self.with_interval if self.with_interval else float("nan")


def population(kappa: float, marginals: tuple[float, ...]) -> np.ndarray:
    """The joint distribution (auditor, moderator) with the moderator's grades ``marginals`` and weighted kappa
    ``kappa`` (solved by bisection on the chance that the auditor agrees)."""

    def joint(agree: float) -> np.ndarray:
        table = np.zeros((LEVELS, LEVELS))
        for moderator, share in enumerate(marginals):
            table[moderator, moderator] += share * agree
            for step, weight in ((1, 0.4), (-1, 0.4), (2, 0.1), (-2, 0.1)):
                auditor = abs(moderator + step)
                auditor = 2 * (LEVELS - 1) - auditor if auditor > LEVELS - 1 else auditor
                table[auditor, moderator] += share * (1 - agree) * weight
        return table

    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if float(table_kappas(joint(middle))) < kappa else (low, middle)
    return joint(high)


def coverage(kappa: float, n: int, marginals: tuple[float, ...], reps: int, seed: int = 1) -> Coverage:
    """Draw ``reps`` samples of ``n`` audits from the population and check each sample's interval."""
    flat = population(kappa, marginals).ravel()
    rng = np.random.default_rng(seed)
    with_interval = covered = all_agree = 0
    widths = []
    for rep in range(reps):
        cells = rng.choice(LEVELS * LEVELS, size=n, p=flat)
        auditor, moderator = cells // LEVELS, cells % LEVELS
        if np.all(auditor == moderator):
            all_agree += 1
            continue
        figures = agreement(auditor, moderator, LEVELS, seed=rep, minimum=2)
        if figures.kappa_low is None or figures.kappa_high is None:
            continue
        with_interval += 1
        covered += figures.kappa_low <= kappa <= figures.kappa_high
        widths.append(figures.kappa_high - figures.kappa_low)
    return Coverage(reps, with_interval, covered, all_agree, float(np.median(widths)) if widths else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=1000, help="samples per cell")
    args = parser.parse_args()
    for name, marginals in POPULATIONS.items():
        print(f"\nModerators' grades {name}: {marginals}")
        print("true kappa   n  coverage  samples with an interval  all agree  median width")
        for kappa in (0.6, 0.75, 0.9, 0.95):
            for n in (5, 10, 14, 44):
                found = coverage(kappa, n, marginals, args.reps)
                print(
                    f"{kappa:10.2f} {n:3d} {found.share:9.1%} {found.with_interval:25d} {found.all_agree:10d} "
                    f"{found.median_width:12.2f}"
                )


if __name__ == "__main__":
    main()
