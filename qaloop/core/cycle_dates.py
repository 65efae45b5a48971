"""The cycle calendar: when each regular audit cycle is selected, what its dates are, and its reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from qaloop.core.settings import CycleCalendar
from qaloop.core.working_days import add_working_days


@dataclass(frozen=True)
class CycleDates:
    """A cycle's reference and its dates, each stage a number of working days after the one before."""

    cycle_ref: str
    selection_date: date
    allocation_date: date
    self_reflection_due: date
    audit_due: date
    moderation_due: date
    close_date: date


def _cadence(calendar: CycleCalendar) -> timedelta:
    return timedelta(weeks=calendar.cadence_weeks)


def scheduled_selection_dates(calendar: CycleCalendar, after: date, until: date) -> list[date]:
    """The scheduled selection dates d with ``after < d <= until``, on the grid anchored at ``calendar.anchor``."""
    cadence = _cadence(calendar)
    # Floor division keeps the grid going backwards from the anchor as well as forwards.
    current = calendar.anchor + ((after - calendar.anchor) // cadence) * cadence
    dates = []
    while current <= until:
        if current > after:
            dates.append(current)
        current += cadence
    return dates


def cycle_ref(calendar: CycleCalendar, selection_date: date) -> str:
    """The reference of the scheduled cycle selected on ``selection_date``: its year and its number in that year.

    ValueError if the date is not on the schedule.
    """
    if (selection_date - calendar.anchor) % _cadence(calendar):
        before = scheduled_selection_dates(calendar, selection_date - _cadence(calendar), selection_date)[-1]
        raise ValueError(
            f"{selection_date} is not a scheduled selection date: cycles are selected every "
            f"{calendar.cadence_weeks} weeks from calendar.anchor ({calendar.anchor}); the nearest are {before} "
            f"and {before + _cadence(calendar)}"
        )
    in_year = scheduled_selection_dates(calendar, date(selection_date.year - 1, 12, 31), selection_date)
    return f"{selection_date.year}-{len(in_year):02d}"


def cycle_dates(calendar: CycleCalendar, selection_date: date, ref: str | None = None) -> CycleDates:
    """All of a cycle's dates from its selection date; ``ref`` defaults to the scheduled cycle's reference."""
    allocation = add_working_days(selection_date, calendar.allocation_days)
    audit_due = add_working_days(allocation, calendar.audit_due_days)
    moderation_due = add_working_days(audit_due, calendar.moderation_days)
    return CycleDates(
        cycle_ref=ref or cycle_ref(calendar, selection_date),
        selection_date=selection_date,
        allocation_date=allocation,
        self_reflection_due=add_working_days(allocation, calendar.self_reflection_due_days),
        audit_due=audit_due,
        moderation_due=moderation_due,
        close_date=add_working_days(moderation_due, calendar.close_days),
    )


def next_selection_date(calendar: CycleCalendar, on_or_after: date) -> date:
    """The first scheduled selection date on or after ``on_or_after``."""
    return scheduled_selection_dates(calendar, on_or_after - timedelta(days=1), on_or_after + _cadence(calendar))[0]
