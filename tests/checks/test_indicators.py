"""The monthly KPI return: read as a council's performance team writes it (a workbook whose rates are cells
formatted as percentages, its months Excel dates, its service areas by name, its polarity "High" or "Low"), checked
by Great Expectations against the configured indicators, every bad row named by indicator, month and service area
with nothing stored, a restated month replacing its figure, each file once."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from checks.indicators import check_and_load_indicators
from checks.outcomes import CheckFailed
from qaloop.core.schema import Dataset
from qaloop.core.settings import Governance, Settings, XlsxSource
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade

AS_OF = date(2026, 12, 4)
# A children's services performance report's columns (its own headers, not qaloop's).
HEADERS = ["Indicator Ref", "Indicator", "Reporting Month", "Team/Service", "Result", "Num", "Denom", "Target",
           "Good is", "Stat Neighbour Average", "England Average", "RAG"]  # fmt: skip
GOVERNANCE = Governance.model_validate(
    {
        "service_areas": {"HP": {"name": "Help and Protection"}, "LAC": {"name": "Children in Care"}},
        "indicators": {
            "CSC01": {"title": "Re-referrals within 12 months", "polarity": "lower is better", "per": 100,
                      "owner": "E010001"},
            "CSC02": {"title": "Assessments completed within 45 working days", "polarity": "higher is better",
                      "per": 100, "target": 85, "owner": "E010001"},
            "CSC03": {"title": "Children in care with three or more placements in the year",
                      "polarity": "lower is better", "unit": "children", "owner": "E010001", "lens": "provider"},
        },
    }
)  # fmt: skip


def _kpi_settings(settings: Settings, path: Path) -> Settings:
    source = XlsxSource(
        kind="xlsx",
        path=path,
        sheet="Monthly KPIs",
        columns={
            "indicator": "Indicator Ref", "period": "Reporting Month", "service_area": "Team/Service",
            "value": "Result", "numerator": "Num", "denominator": "Denom", "target": "Target",
            "polarity": {"from": "Good is", "values": {"High": "higher is better", "Low": "lower is better"}},
            "neighbours": "Stat Neighbour Average", "england": "England Average",
        },
    )  # fmt: skip
    upgrade(engine_from(settings))
    return settings.model_copy(
        update={"governance": GOVERNANCE, "sources": {**settings.sources, Dataset.INDICATORS: source}}
    )


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    """The report as Excel holds it: months as dates (the month's last day), rates as fractions shown as %."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Monthly KPIs"
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
        cells = sheet[sheet.max_row]
        cells[2].number_format = "mmm-yy"
        if row[0] != "CSC03":
            for index in (4, 7, 9, 10):
                cells[index].number_format = "0.0%"
    book.save(path)
    return path


MONTH_END = {"2026-10": datetime(2026, 10, 31), "2026-11": datetime(2026, 11, 30)}
GOOD_ROWS = [
    ["CSC01", "Re-referrals", MONTH_END["2026-10"], None, 0.214, 45, 210, 0.22, "Low", 0.21, 0.224, "Green"],
    ["CSC01", "Re-referrals", MONTH_END["2026-11"], None, 0.2, 40, 200, 0.22, "Low", 0.21, 0.224, "Green"],
    ["CSC01", "Re-referrals", MONTH_END["2026-11"], "Help and Protection", 0.25, 30, 120, None, "Low", None, None,
     "Red"],
    ["CSC02", "Assessments in 45 days", MONTH_END["2026-11"], "help and protection", 0.871, 209, 240, None, "High",
     0.85, 0.826, "Green"],
    ["CSC03", "Placement stability", MONTH_END["2026-11"], "Children in Care", 14, None, None, None, "Low", None,
     None, None],
]  # fmt: skip


def _stored(settings: Settings) -> dict[tuple[str, str, str], tuple]:
    value = models.IndicatorValue
    with engine_from(settings).connect() as connection:
        rows = connection.execute(
            select(value.indicator, value.period, value.service_area, value.value, value.numerator,
                   value.denominator, value.target, value.polarity, value.neighbours, value.england)
        ).all()  # fmt: skip
    return {(row[0], row[1], row[2]): tuple(row[3:]) for row in rows}


def test_a_councils_kpi_workbook_is_stored_as_it_shows(store_settings: Settings, tmp_path: Path) -> None:
    settings = _kpi_settings(store_settings, _workbook(tmp_path / "kpis.xlsx", GOOD_ROWS))
    intake = check_and_load_indicators(settings, AS_OF)
    assert (intake.rows, intake.new, intake.updated) == (5, 5, 0)
    stored = _stored(settings)
    # 0.214 shown as 21.4% is 21.4; the whole service ("") and the service areas by their ids, named or not.
    assert stored[("CSC01", "2026-10", "")] == pytest.approx((21.4, 45, 210, 22, "lower is better", 21, 22.4))
    assert stored[("CSC01", "2026-11", "HP")][:3] == pytest.approx((25, 30, 120))
    assert stored[("CSC01", "2026-11", "HP")][3:] == (None, "lower is better", None, None)
    assert stored[("CSC02", "2026-11", "HP")] == pytest.approx((87.1, 209, 240, None, "higher is better", 85, 82.6))
    assert stored[("CSC03", "2026-11", "LAC")] == (14, None, None, None, "lower is better", None, None)
    # The same file is not read again.
    assert check_and_load_indicators(settings, AS_OF).already_loaded


def test_a_restated_month_replaces_its_figure(store_settings: Settings, tmp_path: Path) -> None:
    settings = _kpi_settings(store_settings, _workbook(tmp_path / "kpis.xlsx", GOOD_ROWS))
    check_and_load_indicators(settings, AS_OF)
    # December's report restates November's re-referrals (late recording) and adds nothing else.
    restated = [[*GOOD_ROWS[1][:4], 0.21, 42, 200, *GOOD_ROWS[1][7:]]]
    settings = _kpi_settings(store_settings, _workbook(tmp_path / "kpis-restated.xlsx", restated))
    intake = check_and_load_indicators(settings, AS_OF)
    assert (intake.new, intake.updated) == (0, 1)
    stored = _stored(settings)
    assert stored[("CSC01", "2026-11", "")][:3] == pytest.approx((21, 42, 200))
    assert len(stored) == 5


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_figure_the_compendium_would_misread_is_named_and_nothing_is_stored(
    store_settings: Settings, tmp_path: Path
) -> None:
    bad = [
        ["CSC09", "Unknown", MONTH_END["2026-11"], None, 0.5, 1, 2, None, "High", None, None, None],
        ["CSC01", "Re-referrals", "Q3 2026", None, 0.2, 40, 200, None, "Low", None, None, None],
        ["CSC01", "Re-referrals", datetime(2027, 1, 31), None, 0.2, 40, 200, None, "Low", None, None, None],
        ["CSC01", "Re-referrals", datetime(2026, 9, 30), None, 0.3, 40, 200, None, "Low", None, None, None],
        ["CSC02", "Assessments", MONTH_END["2026-10"], "Help and Protection", 1.2, 288, 240, None, "High", None,
         None, None],
        ["CSC02", "Assessments", MONTH_END["2026-11"], None, 0.9, 90, 100, None, "Low", None, None, None],
        ["CSC02", "Assessments", MONTH_END["2026-11"], "Early Help", 0.9, 90, 100, None, "High", None, None, None],
        ["CSC02", "Assessments", MONTH_END["2026-10"], None, 0.9, 0, 0, None, "High", None, None, None],
        ["CSC03", "Placements", MONTH_END["2026-10"], "Children in Care", "n/a", None, None, None, "Low", None, None,
         None],
    ]  # fmt: skip
    settings = _kpi_settings(store_settings, _workbook(tmp_path / "kpis.xlsx", GOOD_ROWS + bad))
    with pytest.raises(CheckFailed) as failed:
        check_and_load_indicators(settings, AS_OF)
    said = str(failed.value)
    expected = {
        "indicator (the source's 'Indicator Ref') is not one of governance.indicators (CSC01, CSC02, CSC03): "
        "1 row(s): CSC09 / 2026-11 / whole service",
        "period (the source's 'Reporting Month') is not a month (2026-04, Apr-26, April 2026 or a date in it): "
        "1 row(s): CSC01 / Q3 2026 / whole service",
        "period (the source's 'Reporting Month') is after the month the extract is taken in: 1 row(s): "
        "CSC01 / 2027-01 / whole service",
        "value (the source's 'Result') is not the numerator over the denominator on the rate's scale (to within "
        "0.5): 1 row(s): CSC01 / 2026-09 / whole service (values: 30%)",
        "value (the source's 'Result') is outside 0 to the rate's scale (governance.indicators per: 100 for a "
        "percentage): 1 row(s): CSC02 / 2026-10 / HP (values: 120%)",
        "numerator (the source's 'Num') is below 0 or above the denominator: 1 row(s): CSC02 / 2026-10 / HP",
        "polarity (the source's 'Good is') is not the indicator's configured polarity: 1 row(s): "
        "CSC02 / 2026-11 / whole service",
        "service_area (the source's 'Team/Service') is not one of governance.service_areas (HP, LAC): 1 row(s): "
        "CSC02 / 2026-11 / Early Help",
        "denominator (the source's 'Denom') is not above 0: 1 row(s): CSC02 / 2026-10 / whole service",
        "value (the source's 'Result') is not a valid number: 1 row(s): CSC03 / 2026-10 / LAC (values: n/a)",
    }
    for line in expected:
        assert line in said
    assert _stored(settings) == {}
