"""Working days and the cycle calendar."""

from __future__ import annotations

from datetime import date

import pytest

from qaloop.core.cycle_dates import cycle_dates, cycle_ref, scheduled_selection_dates
from qaloop.core.settings import CycleCalendar
from qaloop.core.working_days import add_working_days, is_working_day


def test_weekends_and_england_bank_holidays_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 12, 25))  # Christmas Day, a Friday
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day substitute, a Monday
    assert not is_working_day(date(2026, 11, 21))  # a Saturday
    assert not is_working_day(date(2026, 8, 31))  # summer bank holiday in England, not in Scotland
    assert is_working_day(date(2026, 12, 24))


def test_working_days_skip_the_christmas_bank_holidays() -> None:
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 29), -1) == date(2026, 12, 24)
    assert add_working_days(date(2026, 11, 20), 0) == date(2026, 11, 20)


CALENDAR = CycleCalendar(anchor=date(2026, 1, 12), cadence_weeks=6)


def test_cycles_fall_every_cadence_from_the_anchor_in_both_directions() -> None:
    dates = scheduled_selection_dates(CALENDAR, date(2025, 11, 30), date(2026, 3, 1))
    assert dates == [date(2025, 12, 1), date(2026, 1, 12), date(2026, 2, 23)]


def test_a_cycle_is_named_by_its_year_and_number_in_that_year() -> None:
    assert cycle_ref(CALENDAR, date(2026, 1, 12)) == "2026-01"
    assert cycle_ref(CALENDAR, date(2026, 11, 2)) == "2026-08"
    assert cycle_ref(CALENDAR, date(2026, 12, 14)) == "2026-09"
    assert cycle_ref(CALENDAR, date(2027, 1, 25)) == "2027-01"
    with pytest.raises(ValueError, match="not a scheduled selection date"):
        cycle_ref(CALENDAR, date(2026, 1, 13))


def test_cycle_dates_are_working_days_in_order() -> None:
    dates = cycle_dates(CALENDAR, date(2026, 12, 14))
    stages = [
        dates.selection_date,
        dates.allocation_date,
        dates.audit_due,
        dates.moderation_due,
        dates.close_date,
    ]
    assert stages == sorted(stages)
    assert all(is_working_day(day) for day in stages[1:] + [dates.self_reflection_due])
    # 15 working days after 16 December crosses Christmas and New Year's Day.
    assert dates.allocation_date == date(2026, 12, 16)
    assert dates.audit_due == date(2027, 1, 11)
