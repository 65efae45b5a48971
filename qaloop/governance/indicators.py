"""The key performance indicators as stored: each indicator's monthly figures for the whole service and for each
service area, as the council's KPI returns gave them (a later return restating a month replaced its figure)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from qaloop.core.settings import Governance, IndicatorDefinition, Settings
from qaloop.store import models
from qaloop.store.handles import authority_id

# How the whole service's figures are named in a report (they are stored with the service area "").
WHOLE_SERVICE = "whole service"


class GovernanceError(Exception):
    """A governance report cannot be made as asked; the message says why and what to do."""


def governance_of(settings: Settings) -> Governance:
    """The configured governance section; GovernanceError where there is none."""
    if settings.governance is None:
        raise GovernanceError("governance is not configured: add governance.indicators to the configuration")
    return settings.governance


@dataclass(frozen=True)
class Figure:
    """One month's figure of an indicator, with what the KPI return gave beside it."""

    period: str
    value: float
    numerator: float | None
    denominator: float | None
    target: float | None
    polarity: str | None
    neighbours: float | None
    england: float | None


@dataclass(frozen=True)
class Series:
    """An indicator's figures for one service area ("" the whole service), by month."""

    indicator: str
    definition: IndicatorDefinition
    service_area: str
    figures: dict[str, Figure]


def area_name(governance: Governance, service_area: str) -> str:
    """How a report names a stored service area: its configured name, or "whole service" for ""."""
    return governance.service_areas[service_area].name if service_area else WHOLE_SERVICE


@dataclass(frozen=True)
class Stored:
    """The stored series over some months, and the indicators or service areas stored but no longer configured
    (named, so that a report says what it leaves out)."""

    series: list[Series]
    unconfigured: list[str]


def stored_series(engine: Engine, settings: Settings, months: list[str]) -> Stored:
    """Every configured indicator's series over ``months`` (YYYY-MM), whole service first, then the service areas
    in their configured order, each in the configured order of the indicators; a series with no figure in
    ``months`` is left out."""
    governance = governance_of(settings)
    value = models.IndicatorValue
    with engine.connect() as connection:
        rows = connection.execute(
            select(value).where(value.authority_id == authority_id(connection, settings), value.period.in_(months))
        ).all()
    found: dict[tuple[str, str], dict[str, Figure]] = {}
    for row in rows:
        found.setdefault((row.indicator, row.service_area), {})[row.period] = Figure(
            row.period, row.value, row.numerator, row.denominator, row.target, row.polarity, row.neighbours,
            row.england,
        )  # fmt: skip
    series = [
        Series(indicator, definition, area, found.pop((indicator, area)))
        for area in ["", *governance.service_areas]
        for indicator, definition in governance.indicators.items()
        if (indicator, area) in found
    ]
    unconfigured = sorted(f"{indicator} ({area or WHOLE_SERVICE})" for indicator, area in found)
    return Stored(series, unconfigured)
