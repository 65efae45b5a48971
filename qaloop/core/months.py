"""Calendar months as the monthly reports name them (YYYY-MM): the month before a day, and the months up to one."""

from __future__ import annotations

from datetime import date, timedelta


def last_month(today: date) -> str:
    """The month that ended last before ``today``."""
    return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"


def months_back(month: str, count: int) -> list[str]:
    """The ``count`` months up to and including ``month`` (YYYY-MM), oldest first."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]
