"""Where the Jinja2 templates are (``report_templates``, shipped with the package, so that an installed wheel
finds them as a checkout does), and how dates are written for people in emails and reports."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

TEMPLATES = Path(str(resources.files("report_templates")))


def long_date(day: date) -> str:
    """A date as people in England write it: Monday 11 January 2027."""
    return f"{day:%A} {day.day} {day:%B %Y}"
