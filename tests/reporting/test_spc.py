"""The p-chart and the XmR chart: limits checked against hand-worked values, and the Making Data Count rules as
NHS England's NHSRplotthedots applies them."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaloop.reporting.spc import OUTSIDE, TWO_OF_THREE, ChartRules, p_chart, xmr_chart
from tests.properties import examples

# The rules below are read on short series: the minimum of points before a reading is tested on its own.
READ = ChartRules(min_points=2)


def test_limits_are_three_standard_errors_for_each_points_own_count() -> None:
    # Centre 100/200 = 0.5. n = 40: 3 * sqrt(0.25 / 40) = 0.237171; n = 100: 3 * sqrt(0.25 / 100) = 0.15.
    chart = p_chart([("a", 20, 40), ("b", 30, 60), ("c", 50, 100)], rules=READ)
    assert chart.centre == pytest.approx(0.5)
    assert (chart.points[0].lower, chart.points[0].upper) == pytest.approx((0.262829, 0.737171), abs=1e-6)
    assert (chart.points[2].lower, chart.points[2].upper) == pytest.approx((0.35, 0.65))
    assert chart.latest == "common cause"


def test_a_point_outside_the_limits_is_a_change_and_its_direction_is_read() -> None:
    # Centre 0.5, limits 0.5 +/- 3 * sqrt(0.25 / 50) = 0.287868 .. 0.712132; the last point is 0.2.
    points = [("1", 30, 50), ("2", 35, 50), ("3", 25, 50), ("4", 10, 50)]
    chart = p_chart(points, rules=READ)
    assert chart.points[-1].lower == pytest.approx(0.287868, abs=1e-6)
    assert chart.latest == "concern"
    assert "outside the control limits" in chart.points[-1].special
    assert p_chart(points, higher_is_better=False, rules=READ).latest == "improvement"


def test_seven_in_a_row_above_the_centre_is_a_shift_and_six_are_not() -> None:
    # Centre (3 * 40 + 7 * 55) / 1000 = 0.505, standard error 0.05: 0.55 is inside two standard errors.
    seven = [(f"{i}", 40, 100) for i in range(3)] + [(f"{i}", 55, 100) for i in range(3, 10)]
    chart = p_chart(seven, rules=READ)
    assert chart.latest == "improvement"
    assert chart.points[-1].special == ("shift: seven or more in a row on one side of the centre line",)
    six = [(f"{i}", 40, 100) for i in range(4)] + [(f"{i}", 55, 100) for i in range(4, 10)]
    assert p_chart(six, rules=READ).latest == "common cause"


def test_seven_rising_points_are_a_trend() -> None:
    rising = [(f"{i}", 40 + 2 * i, 100) for i in range(7)]
    chart = p_chart(rising, rules=READ)
    assert "trend: seven or more in a row rising or falling" in chart.points[-1].special
    assert chart.latest == "improvement"
    assert p_chart(rising[1:], rules=READ).latest == "common cause"


# A base of points that alternate just below the centre line, so no rule is met before the points tested.
BASE = [(f"b{i}", 49 if i % 2 else 51, 100) for i in range(6)]


def test_a_rising_trend_below_the_centre_line_is_an_improvement_where_higher_is_better() -> None:
    # Seen: read from the side of the centre line, a rising seven-point trend below it came out "concern".
    # Centre 0.5273; the rising points 0.46 .. 0.52 are all below it (so also a shift, which the trend outranks).
    points = [(f"{i}", 55 if i % 2 else 57, 100) for i in range(8)] + [(f"r{i}", 46 + i, 100) for i in range(7)]
    chart = p_chart(points, rules=READ)
    assert all(point.share < chart.centre for point in chart.points[-7:])
    assert chart.points[-1].special[0] == "trend: seven or more in a row rising or falling"
    assert chart.latest == "improvement" and chart.points[-1].direction == 1
    assert p_chart(points, higher_is_better=False, rules=READ).latest == "concern"


def test_two_of_three_near_a_limit_must_lie_on_one_side_of_the_centre_line() -> None:
    # Centre 0.5267, one standard error 0.0499: the first and third of the last three are 2.27 above, the second
    # 1.34 below. NHS England's rule needs all three on one side: no signal (the old reading flagged the last).
    straddling = p_chart([*BASE, ("a", 64, 100), ("b", 46, 100), ("c", 64, 100)], rules=READ)
    assert [point.special for point in straddling.points[-3:]] == [(), (), ()]
    assert straddling.latest == "common cause"
    # The second moved just above the centre line (0.55): now all three are on one side, and the two near the
    # limit are flagged, the one between them not.
    same_side = p_chart([*BASE, ("a", 64, 100), ("b", 55, 100), ("c", 64, 100)], rules=READ)
    assert same_side.centre < 0.55
    assert [bool(point.special) for point in same_side.points[-3:]] == [True, False, True]
    assert same_side.points[-1].special == ("two of three near a control limit (beyond two sigma) on one side",)
    assert same_side.latest == "improvement"


def test_a_point_beyond_three_standard_errors_does_not_count_towards_two_of_three() -> None:
    # Centre 0.5489, one standard error 0.0498: the first of the last three is 3.44 standard errors above
    # (outside the limits, which is its own rule), the last 2.23 above: one point near a limit, not two, so the
    # last point is common cause (the old reading counted the first and flagged the last).
    chart = p_chart([*BASE, ("a", 72, 100), ("b", 56, 100), ("c", 66, 100)], rules=READ)
    assert chart.points[-3].special == ("outside the control limits",)
    assert chart.points[-1].special == () and chart.latest == "common cause"


def test_runs_of_six_may_be_configured() -> None:
    six = [(f"{i}", 40, 100) for i in range(4)] + [(f"s{i}", 55, 100) for i in range(6)]
    assert p_chart(six, rules=READ).latest == "common cause"
    chart = p_chart(six, rules=ChartRules(run=6, min_points=2))
    assert chart.latest == "improvement"
    assert chart.points[-1].special == ("shift: six or more in a row on one side of the centre line",)


def test_cycles_without_audits_are_left_out_and_one_cycle_is_too_few() -> None:
    assert p_chart([("1", 0, 0), ("2", 5, 10)], rules=READ).latest == "too few"
    assert [point.label for point in p_chart([("1", 3, 10), ("2", 0, 0), ("3", 4, 10)], rules=READ).points] == [
        "1",
        "3",
    ]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=30),
    st.sampled_from([6, 7]),
)
def test_a_flagged_point_always_meets_the_rule_that_flagged_it(hits: list[int], run: int) -> None:
    chart = p_chart([(str(i), h, 40) for i, h in enumerate(hits)], rules=ChartRules(run=run, min_points=2))
    shares, centre = [point.share for point in chart.points], chart.centre
    sigma = math.sqrt(centre * (1 - centre) / 40)
    side = [(share > centre) - (share < centre) for share in shares]
    near = [2 * sigma < abs(share - centre) <= 3 * sigma for share in shares]
    for i, point in enumerate(chart.points):
        for rule in point.special:
            if rule == OUTSIDE:
                assert abs(point.share - centre) > 3 * sigma
            elif rule.startswith("trend"):
                assert any(
                    _monotone(shares[s : s + run]) for s in range(max(0, i - run + 1), min(i, len(shares) - run) + 1)
                )
            elif rule == TWO_OF_THREE:
                assert near[i] and any(
                    sum(near[s : s + 3]) >= 2 and abs(sum(side[s : s + 3])) == 3
                    for s in range(max(0, i - 2), min(i, len(shares) - 3) + 1)
                )
            else:
                assert any(
                    abs(sum(side[s : s + run])) == run
                    for s in range(max(0, i - run + 1), min(i, len(shares) - run) + 1)
                )


def _monotone(window: list[float]) -> bool:
    steps = {(later > earlier) - (later < earlier) for earlier, later in itertools.pairwise(window)}
    return steps in ({1}, {-1})


STEADY = [(f"s{i}", 50, 100) for i in range(12)]


def test_twelve_points_give_provisional_limits_and_no_reading_and_the_thirteenth_a_reading() -> None:
    # The last point, 10 %, is far outside 0.5 ± 0.15 (centre about 0.47 with it); with twelve points it is not
    # read, with thirteen it is.
    twelve = p_chart([*STEADY[:11], ("x", 10, 100)])
    assert twelve.provisional and twelve.latest == "too few"
    assert (
        twelve.says == "Limits from fewer than 13 points are provisional: no reading of special cause yet (12 cycles)."
    )
    assert all(point.special == () for point in twelve.points) and twelve.variation == ""
    thirteen = p_chart([*STEADY, ("x", 10, 100)])
    assert not thirteen.provisional and thirteen.latest == "concern"
    assert thirteen.points[-1].special == (OUTSIDE,)
    assert thirteen.variation == "Special cause variation: concern (lower)"
    assert p_chart([*STEADY, ("x", 10, 100)], higher_is_better=False).variation == (
        "Special cause variation: improvement (lower)"
    )
    assert p_chart([*STEADY, ("x", 52, 100)]).variation == "Common cause variation"


def test_a_fixed_baseline_keeps_the_centre_line_and_limits_of_its_first_cycles() -> None:
    # Thirteen cycles at 50 %, then three at 70 %. Pooled over all: centre (650 + 210) / 1600 = 0.5375. Fixed on
    # the first thirteen: centre 0.5 and limits 0.5 ± 3 · 0.05 = 0.35 .. 0.65, so each 70 % is outside.
    points = [*STEADY, ("s12", 50, 100), ("a", 70, 100), ("b", 70, 100), ("c", 70, 100)]
    assert p_chart(points).centre == pytest.approx(0.5375)
    fixed = p_chart(points, rules=ChartRules(baseline=13))
    assert fixed.centre == pytest.approx(0.5)
    assert (fixed.points[-1].lower, fixed.points[-1].upper) == pytest.approx((0.35, 0.65))
    assert fixed.periods[0].limits_from == 13 and fixed.periods[0].points == 16
    assert [point.special for point in fixed.points[-3:]] == [(OUTSIDE,)] * 3
    assert fixed.latest == "improvement"


def test_a_recalculation_starts_a_period_with_its_own_centre_line_read_on_its_own() -> None:
    before = [*STEADY, ("s12", 50, 100)]
    after = [(f"n{i}", 70, 100) for i in range(13)]
    # Read as one period, thirteen cycles at 70 % above a centre of 0.6 are a shift: "improvement".
    assert p_chart(before + after).latest == "improvement"
    step = ChartRules(recalculate_from=(("n0", "new audit tool"),))
    chart = p_chart(before + after, rules=step)
    assert [(period.first, period.centre, period.reason) for period in chart.periods] == [
        ("s0", pytest.approx(0.5), ""),
        ("n0", pytest.approx(0.7), "new audit tool"),
    ]
    assert chart.points[12].centre == pytest.approx(0.5) and chart.points[13].centre == pytest.approx(0.7)
    assert chart.latest == "common cause"
    # Five cycles after the change: the new limits are provisional, whatever the old period said.
    short = p_chart(before + after[:5], rules=step)
    assert short.latest == "too few" and short.provisional
    assert short.says.endswith("(5 cycles since the recalculation at n0).")
    # A recalculation at a cycle with no audits starts the period at the next cycle with audits.
    gap = p_chart([*before, ("n0", 0, 0), *after[1:]], rules=step)
    assert [period.first for period in gap.periods] == ["s0", "n1"]


def test_the_assurance_reads_the_target_against_the_latest_limits() -> None:
    points = [*STEADY, ("s12", 50, 100)]  # limits 0.35 .. 0.65
    said = {target: p_chart(points, rules=ChartRules(target=target)).assurance for target in (0.8, 0.3, 0.6)}
    assert said[0.8].startswith("Consistently misses the target (80%)")
    assert said[0.3].startswith("Consistently meets the target (30%)")
    assert said[0.6].startswith("Hit and miss: the target (60%) lies within the limits")
    assert p_chart(points).assurance == ""
    assert p_chart(points[:5], rules=ChartRules(target=0.8)).assurance == ""  # no reading, no assurance


def test_xmr_limits_are_the_mean_plus_or_minus_2_66_mean_moving_ranges() -> None:
    # Mean 58 / 5 = 11.6; moving ranges 2, 1, 2, 1: mean 1.5; sigma 1.5 / 1.128; limits 11.6 +/- 3 sigma.
    chart = xmr_chart([("a", 10), ("b", 12), ("c", 11), ("d", 13), ("e", 12)], rules=READ, unit="days")
    assert chart.centre == pytest.approx(11.6)
    assert (chart.points[0].lower, chart.points[0].upper) == pytest.approx((11.6 - 3.989362, 11.6 + 3.989362))
    assert chart.latest == "common cause"
    assert chart.shown(12) == "12 days"


def test_xmr_screens_a_one_off_jump_out_of_the_mean_moving_range() -> None:
    # Moving ranges 1, 1, 1, 1, 1, 29: mean 34 / 6; 29 is above 3.267 times that, so the mean is 1 without it.
    points = [("1", 10), ("2", 11), ("3", 10), ("4", 11), ("5", 10), ("6", 11), ("7", 40)]
    chart = xmr_chart(points, higher_is_better=False, rules=READ)
    assert chart.centre == pytest.approx(103 / 7)
    assert chart.points[-1].upper == pytest.approx(103 / 7 + 3 / 1.128)
    assert chart.latest == "concern" and OUTSIDE in chart.points[-1].special
    assert xmr_chart(points, rules=READ).latest == "improvement"


def test_xmr_reads_a_shift_leaves_gaps_out_and_says_its_target_in_its_unit() -> None:
    steady = [(f"2025-{m:02d}", 70.0 + (m % 3)) for m in range(1, 13)]
    lower = [(f"2026-{m:02d}", 66.0 + (m % 2) * 0.5) for m in range(1, 8)]
    chart = xmr_chart([*steady, ("2025-13", None), *lower], rules=ChartRules(min_points=13), unit="%")
    assert [point.label for point in chart.points] == [label for label, _ in steady + lower]
    assert chart.latest == "concern" and chart.points[-1].special[-1].startswith("shift")
    assured = xmr_chart([*steady, *lower], rules=ChartRules(min_points=13, target=95), unit="%")
    assert assured.assurance.startswith("Consistently misses the target (95.0%)")
    assert xmr_chart([("a", None)]).says == "No figures to chart yet."
    assert xmr_chart(steady[:5]).says.endswith("(5 months).")
