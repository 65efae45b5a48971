"""Ofsted's Annex A as the case source: workbooks as councils keep them (headers of another year with stray
spaces, a title row, coded values, text and Excel dates, blank teams and workers, names that match no one
or several) read into cases; what cannot become a case is reported by reference and reason, never
dropped in silence; no child's demographic detail reaches the store, a message or a log line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from checks.extracts import check_and_load_extracts
from checks.outcomes import CheckReport
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.programmes.cycle_record import draw_cycle
from qaloop.reporting.cycle_close import build_reports
from qaloop.sources.annex_a import read_annex_a
from qaloop.sources.readers import SourceError, read_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import AS_OF

DEMOGRAPHIC = ["Gender", "Ethnicity", "Date of Birth", "Disability"]


def _sheet(settings: Settings, name: str) -> tuple[pd.DataFrame, Path]:
    path = settings.sources[Dataset.CASES].path
    return pd.read_excel(path, sheet_name=name, header=1, dtype=object), path


def _rewrite(settings: Settings, changes: dict[str, pd.DataFrame]) -> None:
    path = settings.sources[Dataset.CASES].path
    sheets = pd.read_excel(path, sheet_name=None, header=1, dtype=object)
    sheets.update(changes)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, startrow=1)


def test_a_messy_workbook_is_read_and_every_row_accounted_for(children: Settings) -> None:
    staff = read_dataset(children, Dataset.STAFF)
    plans, _ = _sheet(children, "List 7 - Child protection")
    # Another year's headers, with stray spaces; one date that does not exist; blank, unknown and shared names.
    plans = plans.rename(
        columns={
            "Child Protection Plan Start Date": " CP plan start date ",
            "Allocated Worker ": "Allocated Social  Worker",
        }
    )
    plans.loc[3, "Allocated Social  Worker"] = None
    plans.loc[4, "Allocated Social  Worker"] = "Nobody Atall"
    plans.loc[5, " CP plan start date "] = "31/02/2026"
    plans.loc[6, " Allocated Team"] = None
    shared = plans.loc[7, "Allocated Social  Worker"].strip()
    twin = staff.index[staff["name"] != shared][0]
    staff.loc[twin, "name"] = shared.upper()  # two members of staff now share the name
    _rewrite(children, {"List 7 - Child protection": plans})

    result = read_annex_a(children.sources[Dataset.CASES].path, children.sources[Dataset.CASES].lists, staff)
    sheets = pd.read_excel(children.sources[Dataset.CASES].path, sheet_name=None, header=1)
    rows = sum(len(frame) for frame in sheets.values())
    assert len(result.cases) + len(result.problems) == rows  # nothing dropped in silence
    reasons = dict(zip(result.problems["case_ref"], result.problems["reason"], strict=True))
    child = plans["Child Unique ID "]
    assert reasons[f"{child[3]}-L7"] == reasons[f"{child[1]}-L7"] == "no allocated worker"
    assert reasons[f"{child[4]}-L7"] == "the allocated worker matches no one in the staff list"
    assert reasons[f"{child[7]}-L7"].startswith("the allocated worker matches more than one member of staff (")
    assert set(result.workers["outcome"]) == {
        "matches no one in the staff list",
        "matches more than one member of staff",
    }
    assert {"Nobody Atall", "Agency Worker"} <= set(result.workers["name"])

    cases = result.cases.set_index("case_ref")
    assert cases.loc[f"{child[5]}-L7", "start_date"] == "31/02/2026"  # kept as written, for the checks to name
    teamless = cases.loc[f"{child[6]}-L7"]
    assert teamless["team"] == staff.set_index("staff_id").loc[teamless["worker_id"], "team"]  # the worker's team
    assert cases["start_date"].drop(f"{child[5]}-L7").str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(cases["audit_type"]) == {"assessment", "child_protection", "child_looked_after"}
    assert list(result.cases.columns) == [
        "case_ref", "person_ref", "audit_type", "area", "team", "worker_id", "start_date", "last_activity_date",
        "end_date",
    ]  # fmt: skip


def test_the_cycle_stores_what_passes_and_sets_the_rest_aside_by_reference(children: Settings) -> None:
    plans, _ = _sheet(children, "List 7 - Child protection")
    plans.loc[5, "Allocated Worker "] = None
    _rewrite(children, {"List 7 - Child protection": plans})
    upgrade(engine_from(children))
    reports: list[CheckReport] = []
    loaded = check_and_load_extracts(children, AS_OF, on_report=reports.append)
    child = plans["Child Unique ID "][5]
    assert f"{child}-L7" in loaded.quarantined
    annex = next(report for report in reports if report.dataset == "Annex A")
    assert f"{child}-L7" in next(f for f in annex.failures if f.says == "Annex A: no allocated worker").keys
    set_aside = pd.read_csv(loaded.annex_a_file)
    assert set(set_aside["case_ref"]) == set(loaded.quarantined) and len(set_aside) == 7  # 2 a list, and ours
    assert loaded.cases.stored > 2_000
    with pytest.raises(SourceError, match="7 Annex A row"):  # `qaloop load` refuses rather than drops
        read_dataset(children, Dataset.CASES)


def test_no_childs_demographic_detail_reaches_a_message_a_workbook_a_report_or_a_check_report(
    children: Settings,
) -> None:
    upgrade(engine_from(children))
    reports: list[CheckReport] = []
    check_and_load_extracts(children, AS_OF, on_report=reports.append)
    engine = engine_from(children)
    dates = cycle_dates(children.calendar, next_selection_date(children.calendar, AS_OF))
    draw_cycle(engine, children, dates)
    allocate_cycle(engine, children, dates.cycle_ref)
    assert notify_cycle(engine, children, dates.cycle_ref) > 0
    sheets = pd.read_excel(children.sources[Dataset.CASES].path, sheet_name=None, header=1, dtype=str)
    values = {
        str(value).strip() for frame in sheets.values() for column in DEMOGRAPHIC for value in frame[column].dropna()
    }
    values |= {value.split(") ", 1)[1] for value in values if ") " in value}  # the decoded forms too
    births = {pd.Timestamp(value) for value in values if value[:2] in ("19", "20") and len(value) >= 10}
    values |= {f"{day:%Y-%m-%d}" for day in births} | {f"{day:%d/%m/%Y}" for day in births}
    values = {value for value in values if len(value) > 3}  # "Yes" / "No" are not details on their own
    with engine.connect() as connection:
        messages = connection.execute(select(models.EmailOutbox.html, models.EmailOutbox.text_body)).all()
    texts = [html + text for html, text in messages] + [report.describe() for report in reports]
    texts += [report.path.read_text() for report in build_reports(engine, children, dates.cycle_ref, AS_OF).reports]
    for workbook in (children.output_dir / "cycles" / dates.cycle_ref / "workbooks").glob("*.xlsx"):
        book = load_workbook(workbook, read_only=True)
        texts.append(" ".join(str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row if c))
    leaked = {value for value in values for text in texts if value in text}
    assert not leaked
