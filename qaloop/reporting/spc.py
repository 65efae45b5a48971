"""Statistical process control for shares over cycles: the p-chart, read in the style of NHS England's
"Making Data Count", so that a report calls a change a change only where the variation is special cause.

The centre line is the pooled share of all the points shown; each point's control limits are three
standard errors either side of it for that point's own count. Special cause is one of the three rules
Making Data Count teaches: a point outside the limits; a shift (seven or more points in a row on one side
of the centre line); a trend (seven or more points in a row each above, or each below, the one before);
or two of three points in a row beyond two standard errors on the same side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RUN = 7  # Making Data Count: a run of seven points makes a shift or a trend

Reading = Literal["improvement", "concern", "common cause", "too few"]


@dataclass(frozen=True)
class PPoint:
    """One subgroup (a cycle): ``hits`` of ``n`` and the limits for a subgroup of its size."""

    label: str
    hits: int
    n: int
    share: float
    lower: float
    upper: float
    special: tuple[str, ...]


@dataclass(frozen=True)
class PChart:
    """A p-chart of shares: centre line, the points with their limits, and what the latest point says."""

    centre: float
    points: tuple[PPoint, ...]
    latest: Reading
    says: str
    higher_is_better: bool = True

    def better(self, point: PPoint) -> bool:
        """Whether ``point`` lies on the better side of the centre line."""
        return (point.share > self.centre) == self.higher_is_better


def p_chart(points: Sequence[tuple[str, int, int]], higher_is_better: bool = True) -> PChart:
    """The p-chart of ``points`` (label, hits, n), oldest first; subgroups with n = 0 are left out.

    ``latest`` reads the newest point: special cause in the better direction is an improvement, in the
    worse direction a concern, otherwise common cause (no change to report); fewer than two points
    with audits are "too few".
    """
    kept = [(label, hits, n) for label, hits, n in points if n > 0]
    if not kept:
        return PChart(math.nan, (), "too few", "No audits to chart yet.", higher_is_better)
    centre = sum(hits for _, hits, _ in kept) / sum(n for _, _, n in kept)
    shares = [hits / n for _, hits, n in kept]
    sigmas = [math.sqrt(centre * (1 - centre) / n) for _, _, n in kept]
    flags: list[list[str]] = [[] for _ in kept]
    sides = [_side(share, centre) for share in shares]
    for i, (share, sigma) in enumerate(zip(shares, sigmas, strict=True)):
        if share > centre + 3 * sigma or share < centre - 3 * sigma:
            flags[i].append("outside the control limits")
    for end in range(RUN - 1, len(kept)):
        window = sides[end - RUN + 1 : end + 1]
        if window[0] != 0 and all(side == window[0] for side in window):
            for i in range(end - RUN + 1, end + 1):
                _add(flags[i], "shift: seven or more in a row on one side of the centre line")
        steps = [_side(shares[i], shares[i - 1]) for i in range(end - RUN + 2, end + 1)]
        if steps[0] != 0 and all(step == steps[0] for step in steps):
            for i in range(end - RUN + 1, end + 1):
                _add(flags[i], "trend: seven or more in a row rising or falling")
    for end in range(2, len(kept)):
        for direction in (1, -1):
            near = [
                (shares[i] - centre) * direction > 2 * sigmas[i] for i in range(end - 2, end + 1)
            ]  # fmt: skip
            if sum(near) >= 2 and near[-1]:
                _add(flags[end], "two of three beyond two standard errors")
    chart_points = tuple(
        PPoint(
            label,
            hits,
            n,
            share,
            max(0.0, centre - 3 * sigma),
            min(1.0, centre + 3 * sigma),
            tuple(flag),
        )
        for (label, hits, n), share, sigma, flag in zip(kept, shares, sigmas, flags, strict=True)
    )
    latest = chart_points[-1]
    if len(chart_points) < 2:
        return PChart(centre, chart_points, "too few", "One cycle only: no comparison yet.", higher_is_better)
    if not latest.special:
        return PChart(
            centre, chart_points, "common cause", "No significant change: common-cause variation.", higher_is_better
        )
    better = (latest.share > centre) == higher_is_better
    reading: Reading = "improvement" if better else "concern"
    words = "Significant improvement" if better else "Significant deterioration"
    says = f"{words} (special cause: {'; '.join(latest.special)})."
    return PChart(centre, chart_points, reading, says, higher_is_better)


def _side(value: float, reference: float) -> int:
    return (value > reference) - (value < reference)


def _add(flags: list[str], flag: str) -> None:
    if flag not in flags:
        flags.append(flag)
