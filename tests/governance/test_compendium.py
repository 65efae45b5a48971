"""The monthly performance compendium from the stored KPI returns: every figure, centre line, limit and reading
recomputed from the store; due from the configured day on working days until it has gone; a month whose return
is not loaded refused; figures missing for the month or no longer configured named, never dropped silently."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import delete, select

from checks.indicators import check_and_load_indicators
from qaloop.core.settings import Settings
from qaloop.demo.indicators import generate_indicators, write_indicators
from qaloop.governance.compendium import compendium, compendium_due
from qaloop.governance.indicators import GovernanceError
from qaloop.messaging import outbox
from qaloop.reporting.compendium_report import compendium_message, write_compendium
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade

TODAY = date(2026, 12, 4)  # a Friday, the 4th


@pytest.fixture
def kpis(store_settings: Settings) -> Settings:
    """The demo authority with 24 months of its synthetic KPI return checked and stored."""
    upgrade(engine_from(store_settings))
    write_indicators(store_settings, generate_indicators(store_settings, TODAY))
    check_and_load_indicators(store_settings, TODAY)
    return store_settings


def _stored(settings: Settings) -> dict[tuple[str, str], dict[str, models.IndicatorValue]]:
    value = models.IndicatorValue
    with engine_from(settings).connect() as connection:
        rows = connection.execute(select(value)).all()
    found: dict[tuple[str, str], dict[str, models.IndicatorValue]] = {}
    for row in rows:
        found.setdefault((row.indicator, row.service_area), {})[row.period] = row
    return found


def test_every_figure_and_reading_is_recomputed_from_the_store(kpis: Settings) -> None:
    book = compendium(engine_from(kpis), kpis, "2026-11")
    stored = _stored(kpis)
    governance = kpis.governance
    assert list(book.areas) == ["whole service", *(area.name for area in governance.service_areas.values())]
    assert len(book.readings) == len(stored) == 4 * len(governance.indicators)
    assert book.months[0] == "2024-12" and book.months[-1] == "2026-11"
    for reading in book.readings:
        series = stored[(reading.series.indicator, reading.series.service_area)]
        values = np.array([series[month].value for month in book.months])
        assert reading.latest is not None and reading.latest.value == values[-1]
        # The XmR chart: the mean, and three sigma from the mean moving range with one-off jumps screened out.
        ranges = np.abs(np.diff(values))
        kept = ranges[ranges <= 3.267 * ranges.mean()]
        sigma = kept.mean() / 1.128
        assert reading.chart.centre == pytest.approx(values.mean())
        assert reading.chart.points[-1].upper == pytest.approx(values.mean() + 3 * sigma)
        definition = reading.series.definition
        target = series["2026-11"].target if series["2026-11"].target is not None else definition.target
        if target is None:
            assert reading.against_target == "no target"
        else:
            higher = definition.polarity == "higher is better"
            met = values[-1] >= target if higher else values[-1] <= target
            assert reading.against_target.startswith("meets" if met else "misses")
    # The demo's first indicator drifts the wrong way in the first service area over the last seven months.
    drifting = next(r for r in book.areas["Older people and physical disability"] if r.series.indicator == "ASC-01")
    assert drifting.chart.latest == "concern" and drifting.concern


def test_the_compendium_is_due_from_its_day_on_working_days_until_it_has_gone(kpis: Settings) -> None:
    engine = engine_from(kpis)
    assert compendium_due(engine, kpis, date(2026, 12, 3)) is None  # before the 4th
    assert compendium_due(engine, kpis, TODAY) == "2026-11"
    assert compendium_due(engine, kpis, date(2026, 12, 5)) is None  # a Saturday
    assert compendium_due(engine, kpis, date(2026, 12, 7)) == "2026-11"  # not gone yet: the next working day
    book = compendium(engine, kpis, "2026-11")
    outbox.enqueue(engine, [compendium_message(kpis, book, write_compendium(kpis, book))])
    assert compendium_due(engine, kpis, date(2026, 12, 7)) is None
    # On the 1st, New Year's Day (a bank holiday) waits for the next working day.
    first = kpis.model_copy(update={"governance": kpis.governance.model_copy(update={"compendium_day": 1})})
    assert compendium_due(engine, first, date(2027, 1, 1)) is None
    assert compendium_due(engine, first, date(2027, 1, 4)) == "2026-12"


def test_a_month_whose_return_is_not_loaded_is_refused(kpis: Settings) -> None:
    with pytest.raises(GovernanceError, match=r"no indicator figure for 2026-12 is stored \(latest: 2026-11\)"):
        compendium(engine_from(kpis), kpis, "2026-12")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_figures_missing_for_the_month_or_no_longer_configured_are_named(kpis: Settings) -> None:
    value = models.IndicatorValue
    with engine_from(kpis).begin() as connection:
        connection.execute(
            delete(value).where(value.indicator == "ASC-02", value.service_area == "MH", value.period == "2026-11")
        )
    indicators = {key: d for key, d in kpis.governance.indicators.items() if key != "ASC-06"}
    fewer = kpis.model_copy(update={"governance": kpis.governance.model_copy(update={"indicators": indicators})})
    book = compendium(engine_from(fewer), fewer, "2026-11")
    assert book.missing == ["ASC-02 (Mental health)"]
    mental_health = next(r for r in book.areas["Mental health"] if r.series.indicator == "ASC-02")
    assert mental_health.latest is None and mental_health.against_target == "no figure for 2026-11"
    assert book.unconfigured == ["ASC-06 (LDA)", "ASC-06 (MH)", "ASC-06 (OPPD)", "ASC-06 (whole service)"]
    assert all(r.series.indicator != "ASC-06" for r in book.readings)
