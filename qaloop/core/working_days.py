"""Working days in England and Wales: weekends and bank holidays (from the offline ``holidays`` package)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a weekday that is not an England and Wales bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def not_a_working_day(day: date, what_waits: str) -> str | None:
    """Why the day's work of a flow (``what_waits``, e.g. "moderation") does not happen on ``day``, in the words
    the log gives; None on a working day."""
    if is_working_day(day):
        return None
    return f"{day} is not a working day: {what_waits} waits for the next one."


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (before it when negative); 0 gives ``start`` itself."""
    step = timedelta(days=1 if days >= 0 else -1)
    current, remaining = start, abs(days)
    while remaining:
        current += step
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_late(due: date, today: date) -> int:
    """How many working days after ``due`` ``today`` is (0 on or before the due date)."""
    late, current = 0, due
    while current < today:
        current += timedelta(days=1)
        late += is_working_day(current)
    return late
