"""Statistical process control for shares over cycles: the p-chart, read by the rules of NHS England's
"Making Data Count", as its R package NHSRplotthedots implements them, so that a report calls a change a
change only where the variation is special cause.

The centre line is the pooled share of all the points shown; each point's control limits are three
standard errors either side of it for that point's own count. A point is special cause by any of four rules,
read in this order when it meets several:

- **outside the limits**: beyond three standard errors;
- **a trend**: a run of ``run`` points (seven by default; six may be configured) each higher, or each lower,
  than the one before, whichever side of the centre line they lie;
- **two of three near a limit**: two or three of three points in a row between two and three standard
  errors from the centre, all three on the same side of it (a point beyond three counts as outside the
  limits, not here; only the points near the limit are flagged);
- **a shift**: a run of ``run`` points in a row on one side of the centre line.

Whether special cause is an improvement or a concern is read from its direction (the side of the centre
line for a point outside the limits, two of three and a shift; the direction of travel for a trend) and the
measure's polarity (more "good or better" is better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RUN = 7  # Making Data Count: a run of seven points makes a shift or a trend

Reading = Literal["improvement", "concern", "common cause", "too few"]
OUTSIDE = "outside the control limits"
TREND = "trend: {run} or more in a row rising or falling"
TWO_OF_THREE = "two of three near a control limit (beyond two standard errors) on one side"
SHIFT = "shift: {run} or more in a row on one side of the centre line"
_WORDS = {6: "six", 7: "seven"}


@dataclass(frozen=True)
class PPoint:
    """One subgroup (a cycle): ``hits`` of ``n``, the limits for a subgroup of its size, the rules it meets
    (``special``, the one that decides first) and the direction of that rule (+1 higher, -1 lower, 0 none)."""

    label: str
    hits: int
    n: int
    share: float
    lower: float
    upper: float
    special: tuple[str, ...]
    direction: int = 0


@dataclass(frozen=True)
class PChart:
    """A p-chart of shares: centre line, the points with their limits, and what the latest point says."""

    centre: float
    points: tuple[PPoint, ...]
    latest: Reading
    says: str
    higher_is_better: bool = True

    def better(self, point: PPoint) -> bool:
        """Whether ``point``'s special cause is in the better direction."""
        return (point.direction > 0) == self.higher_is_better


def p_chart(points: Sequence[tuple[str, int, int]], higher_is_better: bool = True, run: int = RUN) -> PChart:
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
    sides = [_sign(share - centre) for share in shares]
    outside = [abs(share - centre) > 3 * sigma for share, sigma in zip(shares, sigmas, strict=True)]
    near = [
        not out and abs(share - centre) > 2 * sigma for share, sigma, out in zip(shares, sigmas, outside, strict=True)
    ]
    trends = _trends(shares, run)
    shifts = _shifts(sides, run)
    two_of_three = _two_of_three(near, sides)
    chart_points = []
    for i, ((label, hits, n), share, sigma) in enumerate(zip(kept, shares, sigmas, strict=True)):
        met = [
            (OUTSIDE, sides[i]) if outside[i] else None,
            (TREND.format(run=_WORDS.get(run, run)), trends[i]) if trends[i] else None,
            (TWO_OF_THREE, sides[i]) if two_of_three[i] else None,
            (SHIFT.format(run=_WORDS.get(run, run)), sides[i]) if shifts[i] else None,
        ]
        rules = [rule for rule in met if rule is not None]
        chart_points.append(
            PPoint(
                label,
                hits,
                n,
                share,
                max(0.0, centre - 3 * sigma),
                min(1.0, centre + 3 * sigma),
                tuple(name for name, _ in rules),
                rules[0][1] if rules else 0,
            )
        )
    latest = chart_points[-1]
    if len(chart_points) < 2:
        return PChart(centre, tuple(chart_points), "too few", "One cycle only: no comparison yet.", higher_is_better)
    if not latest.special:
        return PChart(
            centre, tuple(chart_points), "common cause", "No significant change: common-cause variation.",
            higher_is_better,
        )  # fmt: skip
    better = (latest.direction > 0) == higher_is_better
    reading: Reading = "improvement" if better else "concern"
    words = "Significant improvement" if better else "Significant deterioration"
    says = f"{words} (special cause: {latest.special[0]})."
    return PChart(centre, tuple(chart_points), reading, says, higher_is_better)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _trends(shares: Sequence[float], run: int) -> list[int]:
    """Each point's part in a trend: +1 in a run of ``run`` rising points, -1 falling, 0 in none. A point
    that ends a rising run and starts a falling one takes the later run's direction."""
    steps = [_sign(later - earlier) for earlier, later in zip(shares, shares[1:], strict=False)]
    part = [0] * len(shares)
    for end in range(run - 1, len(shares)):
        window = steps[end - run + 1 : end]
        if window[0] != 0 and all(step == window[0] for step in window):
            for i in range(end - run + 1, end + 1):
                part[i] = window[0]
    return part


def _shifts(sides: Sequence[int], run: int) -> list[bool]:
    """Whether each point is in a run of ``run`` points on one side of the centre line."""
    part = [False] * len(sides)
    for end in range(run - 1, len(sides)):
        window = sides[end - run + 1 : end + 1]
        if window[0] != 0 and all(side == window[0] for side in window):
            for i in range(end - run + 1, end + 1):
                part[i] = True
    return part


def _two_of_three(near: Sequence[bool], sides: Sequence[int]) -> list[bool]:
    """Whether each point is near a limit within three points in a row of which two or three are near a limit
    and all three lie on the same side of the centre line."""
    part = [False] * len(near)
    for start in range(len(near) - 2):
        window = range(start, start + 3)
        if sum(near[i] for i in window) >= 2 and abs(sum(sides[i] for i in window)) == 3:
            for i in window:
                part[i] = part[i] or near[i]
    return part
