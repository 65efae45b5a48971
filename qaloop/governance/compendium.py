"""The monthly performance compendium (Coventry 2.3: "every month, on the 4th of the month or as shortly
afterwards as possible ... shared with all managers in the service"): every key indicator on its XmR chart,
read by Making Data Count's rules, against its target and its statistical-neighbour and England benchmarks, the
whole service first and then each service area; and the day it goes.

It is last month's compendium, due from the configured day (or the next working day) until it is queued: a KPI
return that arrives late is charted on the first working day it has been loaded, and a month whose return is not
loaded at all is refused, never sent empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, exists, select

from qaloop.core.months import last_month, months_back
from qaloop.core.settings import IndicatorDefinition, Settings
from qaloop.core.working_days import is_working_day
from qaloop.governance.indicators import (
    Figure,
    GovernanceError,
    Series,
    area_name,
    governance_of,
    stored_series,
)
from qaloop.messaging.compose import outbox_key
from qaloop.reporting.spc import ChartRules, PChart, xmr_chart
from qaloop.store import models

COMPENDIUM = "compendium"


def unit_of(definition: IndicatorDefinition) -> str:
    """How an indicator's figures are written: "%" for a percentage, "per 10,000" for a rate so scaled, else its
    configured unit."""
    if definition.per == 100:
        return "%"
    return f"per {definition.per:,}" if definition.per else definition.unit


@dataclass(frozen=True)
class Reading:
    """One indicator for one service area: its chart over the months shown, the month's figure (None: the return
    gave none) and what it says against the target and the benchmarks."""

    series: Series
    area: str
    chart: PChart
    latest: Figure | None
    target: float | None
    against_target: str
    against_benchmarks: str

    @property
    def concern(self) -> bool:
        """Whether the month's figure is special cause in the worse direction."""
        return (
            self.latest is not None
            and self.chart.latest == "concern"
            and self.chart.points[-1].label == (self.latest.period)
        )


@dataclass(frozen=True)
class Compendium:
    """A month's compendium: the readings by service area (whole service first), the indicators charted without
    a figure for the month, and the stored figures it leaves out because their indicator or area is no longer
    configured."""

    authority: str
    month: str
    months: list[str]
    areas: dict[str, list[Reading]]
    missing: list[str]
    unconfigured: list[str]

    @property
    def readings(self) -> list[Reading]:
        return [reading for readings in self.areas.values() for reading in readings]


def compendium_sent(engine: Engine, settings: Settings, month: str) -> bool:
    """Whether ``month``'s compendium is queued or sent (its email is in the outbox)."""
    key = outbox_key(settings, (COMPENDIUM, month))
    with engine.connect() as connection:
        return bool(connection.scalar(select(exists().where(models.EmailOutbox.key == key))))


def compendium_due(engine: Engine, settings: Settings, today: date) -> str | None:
    """The month whose compendium goes out ``today``: last month's, on a working day from the configured day of
    this month until it has gone; None on other days."""
    governance = governance_of(settings)
    if not is_working_day(today) or today.day < governance.compendium_day:
        return None
    month = last_month(today)
    return None if compendium_sent(engine, settings, month) else month


def chart_rules(settings: Settings, target: float | None) -> ChartRules:
    """The reports' SPC rules (run, minimum of points) with an indicator's target."""
    return ChartRules(run=settings.reports.spc_run, min_points=settings.reports.spc_min_points, target=target)


def compendium(engine: Engine, settings: Settings, month: str) -> Compendium:
    """``month``'s compendium from the stored figures; GovernanceError when no figure for it is stored (the
    month's KPI return is not loaded)."""
    governance = governance_of(settings)
    months = months_back(month, governance.months_charted)
    stored = stored_series(engine, settings, months)
    if not any(month in series.figures for series in stored.series):
        latest = max((period for series in stored.series for period in series.figures), default=None)
        raise GovernanceError(
            f"no indicator figure for {month} is stored (latest: {latest or 'none'}): load the month's KPI return "
            "first (`qaloop load indicators`, or the compendium flow with the return in its source)"
        )
    areas: dict[str, list[Reading]] = {}
    for series in stored.series:
        reading = read_series(settings, series, months)
        areas.setdefault(reading.area, []).append(reading)
    missing = [f"{r.series.indicator} ({r.area})" for readings in areas.values() for r in readings if not r.latest]
    return Compendium(settings.authority.name, month, months, areas, missing, stored.unconfigured)


def read_series(settings: Settings, series: Series, months: list[str]) -> Reading:
    """One series read for the last of ``months``: its XmR chart, and its figure against target and benchmarks."""
    governance = governance_of(settings)
    definition = series.definition
    latest = series.figures.get(months[-1])
    target = latest.target if latest and latest.target is not None else definition.target
    higher = (latest.polarity if latest and latest.polarity else definition.polarity) == "higher is better"
    points = [(month, figure.value if (figure := series.figures.get(month)) else None) for month in months]
    chart = xmr_chart(points, higher, chart_rules(settings, target), unit_of(definition))
    return Reading(
        series, area_name(governance, series.service_area), chart, latest, target,
        _against_target(chart, months[-1], latest, target), _against_benchmarks(chart, latest),
    )  # fmt: skip


def _better(value: float, other: float, higher: bool) -> str:
    if value == other:
        return "level with"
    return "better than" if (value > other) == higher else "worse than"


def _against_target(chart: PChart, month: str, latest: Figure | None, target: float | None) -> str:
    if latest is None:
        return f"no figure for {month}"
    if target is None:
        return "no target"
    met = latest.value >= target if chart.higher_is_better else latest.value <= target
    return f"{'meets' if met else 'misses'} the target of {chart.shown(target)}"


def _against_benchmarks(chart: PChart, latest: Figure | None) -> str:
    if latest is None:
        return ""
    said = [
        f"{_better(latest.value, benchmark, chart.higher_is_better)} {name} ({chart.shown(benchmark)})"
        for name, benchmark in (("statistical neighbours", latest.neighbours), ("England", latest.england))
        if benchmark is not None
    ]
    return "; ".join(said) or "no benchmark given"
