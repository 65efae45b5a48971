"""The p-chart: limits checked against hand-worked values, and the Making Data Count rules."""

from __future__ import annotations

import pytest

from qaloop.reporting.spc import p_chart


def test_limits_are_three_standard_errors_for_each_points_own_count() -> None:
    # Centre 100/200 = 0.5. n = 40: 3 * sqrt(0.25 / 40) = 0.237171; n = 100: 3 * sqrt(0.25 / 100) = 0.15.
    chart = p_chart([("a", 20, 40), ("b", 30, 60), ("c", 50, 100)])
    assert chart.centre == pytest.approx(0.5)
    assert (chart.points[0].lower, chart.points[0].upper) == pytest.approx((0.262829, 0.737171), abs=1e-6)
    assert (chart.points[2].lower, chart.points[2].upper) == pytest.approx((0.35, 0.65))
    assert chart.latest == "common cause"


def test_a_point_outside_the_limits_is_a_change_and_its_direction_is_read() -> None:
    # Centre 0.5, limits 0.5 +/- 3 * sqrt(0.25 / 50) = 0.287868 .. 0.712132; the last point is 0.2.
    points = [("1", 30, 50), ("2", 35, 50), ("3", 25, 50), ("4", 10, 50)]
    chart = p_chart(points)
    assert chart.points[-1].lower == pytest.approx(0.287868, abs=1e-6)
    assert chart.latest == "concern"
    assert "outside the control limits" in chart.points[-1].special
    assert p_chart(points, higher_is_better=False).latest == "improvement"


def test_seven_in_a_row_above_the_centre_is_a_shift_and_six_are_not() -> None:
    # Centre (3 * 40 + 7 * 55) / 1000 = 0.505, standard error 0.05: 0.55 is inside two standard errors.
    seven = [(f"{i}", 40, 100) for i in range(3)] + [(f"{i}", 55, 100) for i in range(3, 10)]
    chart = p_chart(seven)
    assert chart.latest == "improvement"
    assert chart.points[-1].special == ("shift: seven or more in a row on one side of the centre line",)
    six = [(f"{i}", 40, 100) for i in range(4)] + [(f"{i}", 55, 100) for i in range(4, 10)]
    assert p_chart(six).latest == "common cause"


def test_seven_rising_points_are_a_trend() -> None:
    rising = [(f"{i}", 40 + 2 * i, 100) for i in range(7)]
    chart = p_chart(rising)
    assert "trend: seven or more in a row rising or falling" in chart.points[-1].special
    assert chart.latest == "improvement"
    assert p_chart(rising[1:]).latest == "common cause"


def test_cycles_without_audits_are_left_out_and_one_cycle_is_too_few() -> None:
    assert p_chart([("1", 0, 0), ("2", 5, 10)]).latest == "too few"
    assert [point.label for point in p_chart([("1", 3, 10), ("2", 0, 0), ("3", 4, 10)]).points] == ["1", "3"]
