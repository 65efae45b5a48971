"""Statistical process control, read by the rules of NHS England's "Making Data Count" as its R package
NHSRplotthedots implements them, so that a report calls a change a change only where the variation is special
cause: the p-chart for shares over cycles (audits good or better), and the XmR chart for a monthly performance
indicator's figures.

An XmR chart's centre line is the mean of the period's points (or of its first ``baseline``), its limits the
centre plus or minus 2.66 mean moving ranges (three sigma, sigma being the mean moving range over 1.128); a
moving range above 3.267 mean moving ranges (a one-off jump) is screened out of the mean first, as
NHSRplotthedots does by default. Everything else below applies to both charts.

The centre line is the pooled share of the points shown, or of the first ``baseline`` of them when the limits
are fixed on a baseline; each point's control limits are three standard errors either side of it for that
point's own count. A recalculation (a change in the audit tool, a restructure) starts a new period with its
own centre line, read on its own. Limits worked out from fewer than ``min_points`` points (13 by default)
are provisional, and no point of such a period is read as special cause. Otherwise a point is special cause
by any of four rules, read in this order when it meets several:

- **outside the limits**: beyond three standard errors;
- **a trend**: a run of ``run`` points (seven by default; six may be configured) each higher, or each lower,
  than the one before, whichever side of the centre line they lie;
- **two of three near a limit**: two or three of three points in a row between two and three standard
  errors from the centre, all three on the same side of it (a point beyond three counts as outside the
  limits, not here; only the points near the limit are flagged);
- **a shift**: a run of ``run`` points in a row on one side of the centre line.

Whether special cause is an improvement or a concern is read from its direction (the side of the centre
line for a point outside the limits, two of three and a shift; the direction of travel for a trend) and the
measure's polarity (more "good or better" is better). Where a target is set, the assurance reads where it
lies against the latest point's limits: within them, chance alone decides whether a cycle meets it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

RUN = 7  # Making Data Count: a run of seven points makes a shift or a trend
MIN_POINTS = 13  # Making Data Count: limits from fewer points are trial limits, and no icon is shown

Reading = Literal["improvement", "concern", "common cause", "too few"]
Assured = Literal["", "meets", "misses", "hit and miss"]
OUTSIDE = "outside the control limits"
TREND = "trend: {run} or more in a row rising or falling"
TWO_OF_THREE = "two of three near a control limit (beyond two sigma) on one side"
SHIFT = "shift: {run} or more in a row on one side of the centre line"
_WORDS = {6: "six", 7: "seven"}
_T = TypeVar("_T")


@dataclass(frozen=True)
class ChartRules:
    """How a chart is read: the run length, the fewest points before a reading, the points the limits are fixed
    on (``baseline``; None: all the period's points), the cycles from which the limits are worked out afresh
    (``recalculate_from``: label and why) and the target the assurance is read against (None: no target)."""

    run: int = RUN
    min_points: int = MIN_POINTS
    baseline: int | None = None
    recalculate_from: tuple[tuple[str, str], ...] = ()
    target: float | None = None


@dataclass(frozen=True)
class PPoint:
    """One point: on a p-chart a subgroup (a cycle), ``hits`` of ``n`` and its ``share``; on an XmR chart a
    month's figure as ``share`` (``hits`` and ``n`` 0). With the centre line and limits for it in its period,
    the rules it meets (``special``, the one that decides first) and the direction of that rule (+1 higher, -1
    lower, 0 none)."""

    label: str
    hits: int
    n: int
    share: float
    lower: float
    upper: float
    special: tuple[str, ...]
    direction: int = 0
    centre: float = math.nan
    period: int = 0


@dataclass(frozen=True)
class Period:
    """A run of points with one centre line: from the point labelled ``first`` (after a recalculation, for
    ``reason``), its ``points``, and the first ``limits_from`` of them the centre line is worked out from;
    ``provisional`` where that is fewer than the rules' minimum (trial limits, read no special cause)."""

    first: str
    centre: float
    points: int
    limits_from: int
    provisional: bool
    reason: str = ""


@dataclass(frozen=True)
class PChart:
    """A p-chart of shares: the latest period's centre line, the points with their limits, its periods, and
    what the latest point says: its reading, in words, and (as Making Data Count's icons say them) its
    ``variation`` and ``assurance``, with ``assured`` the kind ("" where there is no reading, or no target)."""

    centre: float
    points: tuple[PPoint, ...]
    latest: Reading
    says: str
    higher_is_better: bool = True
    periods: tuple[Period, ...] = ()
    rules: ChartRules = ChartRules()
    variation: str = ""
    assurance: str = ""
    assured: Assured = ""
    individuals: bool = False  # an XmR chart of figures, not a p-chart of shares
    unit: str = ""  # an XmR chart's figures: "%" for a percentage, else what they count

    def shown(self, value: float) -> str:
        """``value`` as the chart's points are written: a share as a percentage, a figure with its unit."""
        if not self.individuals:
            return f"{value:.0%}"
        return f"{value:,.1f}%" if self.unit == "%" else f"{value:,.4g}" + (f" {self.unit}" if self.unit else "")

    def better(self, point: PPoint) -> bool:
        """Whether ``point``'s special cause is in the better direction."""
        return (point.direction > 0) == self.higher_is_better

    @property
    def provisional(self) -> bool:
        """Whether any period's limits are trial limits (from fewer than the minimum of points)."""
        return any(period.provisional for period in self.periods)


def p_chart(
    points: Sequence[tuple[str, int, int]],
    higher_is_better: bool = True,
    rules: ChartRules = ChartRules(),
    each: str = "cycle",
) -> PChart:
    """The p-chart of ``points`` (label, hits, n), oldest first; subgroups with n = 0 are left out (a
    recalculation at one starts the period at the next point with audits).

    Each period (the points up to the first recalculation, then from each) has its own centre line, pooled
    over its first ``rules.baseline`` points (all of them when None), and is read on its own. In a period of
    fewer than ``rules.min_points`` points no point is special cause and the limits are provisional. ``latest``
    reads the newest point: special cause in the better direction is an improvement, in the worse direction a
    concern, otherwise common cause (no change to report); a period too short to read is "too few". ``each``
    names a point in the reading's words (a cycle, a quarter).
    """
    chart = PChart(math.nan, (), "too few", "", higher_is_better, (), rules)
    periods: list[Period] = []
    chart_points: list[PPoint] = []
    for kept, reason in _periods_of([(label, (hits, n) if n > 0 else None) for label, hits, n in points], rules):
        base = kept[: rules.baseline] if rules.baseline else kept
        centre = sum(hits for _, (hits, _) in base) / sum(n for _, (_, n) in base)
        sigmas = [math.sqrt(centre * (1 - centre) / n) for _, (_, n) in kept]
        shares = [hits / n for _, (hits, n) in kept]
        counts = [(hits, n) for _, (hits, n) in kept]
        read = _read_period([label for label, _ in kept], shares, centre, sigmas, rules, len(periods), counts)
        periods.append(Period(kept[0][0], centre, len(kept), len(base), len(base) < rules.min_points, reason))
        chart_points += read
    return _reading(chart, periods, chart_points, "No audits to chart yet.", each)


# Making Data Count's constants for an XmR chart: three sigma is 2.66 mean moving ranges (3 / 1.128), and a
# moving range above 3.267 of them is screened out of the mean.
_D2 = 1.128
_SCREEN = 3.267


def xmr_chart(
    points: Sequence[tuple[str, float | None]],
    higher_is_better: bool = True,
    rules: ChartRules = ChartRules(),
    unit: str = "",
) -> PChart:
    """The XmR chart of ``points`` (label, figure), oldest first; a month without a figure (None) is left out.
    Periods, readings and assurance as for ``p_chart``; ``unit`` is how the figures are written ("%": a
    percentage, as 45.2)."""
    chart = PChart(math.nan, (), "too few", "", higher_is_better, (), rules, individuals=True, unit=unit)
    periods: list[Period] = []
    chart_points: list[PPoint] = []
    for kept, reason in _periods_of(list(points), rules):
        values = [float(value) for _, value in kept]
        base = values[: rules.baseline] if rules.baseline else values
        centre = sum(base) / len(base)
        sigma = _mean_moving_range(base) / _D2
        read = _read_period([label for label, _ in kept], values, centre, [sigma] * len(values), rules,
                            len(periods), None)  # fmt: skip
        periods.append(Period(kept[0][0], centre, len(kept), len(base), len(base) < rules.min_points, reason))
        chart_points += read
    return _reading(chart, periods, chart_points, "No figures to chart yet.", "month")


def _mean_moving_range(values: Sequence[float]) -> float:
    """The mean of the moving ranges between successive ``values``, those above 3.267 times it left out."""
    ranges = [abs(later - earlier) for earlier, later in zip(values, values[1:], strict=False)]
    if not ranges:
        return 0.0
    mean = sum(ranges) / len(ranges)
    kept = [moving for moving in ranges if moving <= _SCREEN * mean]
    return sum(kept) / len(kept) if kept else mean


def _periods_of(labelled: Sequence[tuple[str, _T | None]], rules: ChartRules) -> list[tuple[list[tuple[str, _T]], str]]:
    """The points (label, what is charted; None: nothing to chart) split into periods at each recalculation,
    each with its reason; a recalculation at a point with nothing to chart starts its period at the next."""
    starts = dict(rules.recalculate_from)
    grouped: list[list[tuple[str, _T]]] = [[]]
    reasons = [""]
    for label, item in labelled:
        if label in starts and grouped[-1]:
            grouped.append([])
            reasons.append(starts[label])
        elif label in starts:
            reasons[-1] = starts[label]
        if item is not None:
            grouped[-1].append((label, item))
    return [(kept, reason) for kept, reason in zip(grouped, reasons, strict=True) if kept]


def _reading(chart: PChart, periods: list[Period], points: list[PPoint], empty: str, each: str) -> PChart:
    """``chart`` with its periods and points, and what its latest point says."""
    if not points:
        return replace(chart, says=empty)
    last = periods[-1]
    chart = replace(chart, centre=last.centre, points=tuple(points), periods=tuple(periods))
    latest = points[-1]
    since = f" since the recalculation at {last.first}" if len(periods) > 1 else ""
    rules = chart.rules
    if last.provisional:
        says = (
            f"Limits from fewer than {rules.min_points} points are provisional: no reading of special cause yet "
            f"({last.points} {each}{'s' if last.points != 1 else ''}{since})."
        )
        return _with(chart, "too few", says)
    assurance = _assurance(chart, latest, rules.target)
    if not latest.special:
        return _with(chart, "common cause", "No significant change: common-cause variation.",
                     "Common cause variation", assurance)  # fmt: skip
    better = chart.better(latest)
    words = "Significant improvement" if better else "Significant deterioration"
    side = "higher" if latest.direction > 0 else "lower"
    variation = f"Special cause variation: {'improvement' if better else 'concern'} ({side})"
    return _with(chart, "improvement" if better else "concern", f"{words} (special cause: {latest.special[0]}).",
                 variation, assurance)  # fmt: skip


def _with(
    chart: PChart, latest: Reading, says: str, variation: str = "", assurance: tuple[Assured, str] = ("", "")
) -> PChart:
    return replace(chart, latest=latest, says=says, variation=variation, assurance=assurance[1], assured=assurance[0])


def _read_period(
    labels: list[str],
    values: list[float],
    centre: float,
    sigmas: list[float],
    rules: ChartRules,
    index: int,
    counts: list[tuple[int, int]] | None,
) -> list[PPoint]:
    """One period's points read by the four rules (none if the period is too short); ``counts``: a p-chart's
    hits and n (its limits then kept between 0 and 1)."""
    base = min(len(values), rules.baseline) if rules.baseline else len(values)
    sides = [_sign(value - centre) for value in values]
    outside = [abs(value - centre) > 3 * sigma for value, sigma in zip(values, sigmas, strict=True)]
    near = [
        not out and abs(value - centre) > 2 * sigma for value, sigma, out in zip(values, sigmas, outside, strict=True)
    ]
    read = base >= rules.min_points
    trends = _trends(values, rules.run)
    shifts = _shifts(sides, rules.run)
    two_of_three = _two_of_three(near, sides)
    run_words = _WORDS.get(rules.run, str(rules.run))
    found = []
    for i, (label, value, sigma) in enumerate(zip(labels, values, sigmas, strict=True)):
        met = [
            (OUTSIDE, sides[i]) if outside[i] else None,
            (TREND.format(run=run_words), trends[i]) if trends[i] else None,
            (TWO_OF_THREE, sides[i]) if two_of_three[i] else None,
            (SHIFT.format(run=run_words), sides[i]) if shifts[i] else None,
        ]
        met_rules = [rule for rule in met if rule is not None] if read else []
        lower, upper = centre - 3 * sigma, centre + 3 * sigma
        hits, n = counts[i] if counts else (0, 0)
        found.append(
            PPoint(
                label,
                hits,
                n,
                value,
                max(0.0, lower) if counts else lower,
                min(1.0, upper) if counts else upper,
                tuple(name for name, _ in met_rules),
                met_rules[0][1] if met_rules else 0,
                centre,
                index,
            )
        )
    return found


def _assurance(chart: PChart, latest: PPoint, target: float | None) -> tuple[Assured, str]:
    """Making Data Count's assurance icon, and in words: where the target lies against the latest limits."""
    if target is None:
        return "", ""
    shown = chart.shown(target)
    if latest.lower <= target <= latest.upper:
        each = "month" if chart.individuals else "cycle"
        return (
            "hit and miss",
            f"Hit and miss: the target ({shown}) lies within the limits, so chance alone decides each {each}",
        )
    if (target < latest.lower) == chart.higher_is_better:
        return "meets", f"Consistently meets the target ({shown}): it lies beyond the limits on the worse side"
    return "misses", f"Consistently misses the target ({shown}): it lies beyond the limits on the better side"


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
