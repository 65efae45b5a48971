"""A council's own exports, written here as councils keep them (none by `qaloop demo-data`), taken in through
the configuration alone, on SQLite and PostgreSQL: an HR staff list with job titles, an employment status
and senior managers outside any casework team; a case-management export in Windows-1252 with semicolons,
its own column names and its own codes for the work types."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select

from checks.intake import take_in
from qaloop.core.schema import Dataset
from qaloop.core.settings import load_settings
from qaloop.programmes.cycle_record import selection_inputs
from qaloop.sources.loading import LoadError
from qaloop.sources.readers import SourceError, read_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import DEMO_CONFIG

AS_OF = date(2026, 11, 20)

# An HR system's "staff in post" export: job titles, not roles; an employment status; managers named by
# employee number; senior managers in a "Senior Management" team that holds no cases, QA officers in none.
HR_EXPORT = pd.DataFrame(
    [
        ["100001", "Director of Adult Social Care", "Senior Management", "", "", "Active"],
        ["100002", "Head of Service", "Senior Management", "", "100001", "Active"],
        ["100003", "Principal Social Worker", "Senior Management", "", "100001", "Active"],
        ["100004", "Quality Assurance Officer", "", "", "100003", "Active"],
        ["100010", "Team Manager", "North Long Term Team", "North", "100002", "Active"],
        ["100011", "Senior Social Worker", "North Long Term Team", "North", "100010", "Active"],
        ["100012", "Social Worker", "North Long Term Team", "North", "100010", "Active"],
        ["100013", "Social Worker", "North Long Term Team", "North", "100010", "Leaver"],
        ["100020", "Team Manager", "South Review Team", "South", "100002", "Active"],
        ["100021", "Advanced Practitioner", "South Review Team", "South", "100020", "Active"],
        ["100022", "Social Worker (Agency)", "South Review Team", "South", "100020", "Active"],
    ],
    columns=["Employee Number", "Job Title", "Team Name", "Locality", "Manager Employee Number", "Employment Status"],
).assign(
    **{
        "Known As": lambda f: "Colleague " + f["Employee Number"],
        "Work Email": lambda f: "e" + f["Employee Number"] + "@council.example.gov.uk",
    }
)

JOB_TITLES = {
    "Director of Adult Social Care": "director",
    "Head of Service": "service_manager",
    "Principal Social Worker": "practice_lead",
    "Quality Assurance Officer": "qa_officer",
    "Team Manager": "team_manager",
    "Senior Social Worker": "senior_practitioner",
    "Advanced Practitioner": "senior_practitioner",
    "Social Worker": "practitioner",
    "Social Worker (Agency)": "practitioner",
}

# A case-management system's export: its own names, its own work-type codes, the locality blank where the
# service area is given instead, dates as dd/mm/yyyy, saved by Excel as plain CSV (Windows-1252) with ';'.
CASE_EXPORT = [
    ["Case ID", "Client ID", "Work Code", "Locality", "Service Area", "Team", "Allocated Worker", "Opened",
     "Last Contact", "Closed", "Notes"],
    ["AS-0001", "C-9001", "CA01", "North", "", "North Long Term Team", "100012", "03/02/2026", "01/10/2026", "",
     "visit – follow up"],
    ["AS-0002", "C-9002", "REV", "", "South", "South Review Team", "100022", "10/03/2026", "12/11/2026", "", "£ query"],
    ["AS-0003", "C-9003", "MCA", "North", "", "North Long Term Team", "100011", "05/05/2026", "14/11/2026", "", ""],
    ["AS-0004", "C-9004", "S42", "South", "", "South Review Team", "100021", "20/06/2026", "18/11/2026", "", "café"],
]  # fmt: skip


def council_config(folder: Path, store_url: str) -> Path:
    """The demo's configuration with this council's areas and its two sources mapped as it keeps them."""
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database_url"] = store_url
    data["output_dir"] = str(folder / "output")
    data["returns"] = {"folder": str(folder / "returns")}
    data["authority"]["areas"] = [{"code": "N", "name": "North"}, {"code": "S", "name": "South"}]
    data["calendar"]["audits_per_area"] = 2
    data["sources"] = {
        "staff": {
            "kind": "xlsx",
            "path": str(folder / "staff in post.xlsx"),
            "columns": {
                "staff_id": "Employee Number",
                "name": "Known As",
                "email": "Work Email",
                "role": {"from": "Job Title", "values": JOB_TITLES},
                "area": "Locality",
                "team": "Team Name",
                "line_manager_id": "Manager Employee Number",
                "active": {"from": "Employment Status", "values": {"Active": "true", "Leaver": "false"}},
            },
        },
        "cases": {
            "kind": "csv",
            "path": str(folder / "open cases.csv"),
            "date_format": "%d/%m/%Y",
            "columns": {
                "case_ref": "Case ID",
                "person_ref": "Client ID",
                "audit_type": {
                    "from": "Work Code",
                    "values": {
                        "CA01": "care_act_assessment",
                        "REV": "care_act_review",
                        "MCA": "mca_assessment",
                        "S42": "safeguarding",
                    },
                },
                "area": {"from": ["Locality", "Service Area"]},
                "team": "Team",
                "worker_id": "Allocated Worker",
                "start_date": "Opened",
                "last_activity_date": "Last Contact",
                "end_date": "Closed",
            },
        },
    }
    data["sources"]["audit_history"] = {
        "kind": "csv",
        "path": str(folder / "past audits.csv"),
        "date_format": "%d/%m/%Y",
        "columns": {
            "cycle_ref": "Audit Cycle",
            "selection_date": "Cycle Start",
            "case_ref": "Case ID",
            "worker_id": "Worker",
        },
    }
    path = folder / "council.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


# The QA team's own log of past audits: no auditor, no grade; a case closed since (AS-0900, its worker a
# leaver no longer in the staff list) and one still open.
PAST_AUDITS = pd.DataFrame(
    [
        ["Cycle 7", "14/09/2026", "AS-0900", "100099"],
        ["Cycle 7", "14/09/2026", "AS-0901", "100021"],
        ["Cycle 8", "26/10/2026", "AS-0003", "100011"],
    ],
    columns=["Audit Cycle", "Cycle Start", "Case ID", "Worker"],
)


def write_exports(folder: Path, cases: list[list[str]] = CASE_EXPORT) -> None:
    HR_EXPORT.to_excel(folder / "staff in post.xlsx", index=False, sheet_name="Staff in post")
    text = "\r\n".join(";".join(row) for row in cases) + "\r\n"
    (folder / "open cases.csv").write_bytes(text.encode("cp1252"))
    PAST_AUDITS.to_csv(folder / "past audits.csv", index=False)


def test_an_hr_export_and_a_case_export_load_through_the_configuration_alone(tmp_path: Path, store_url: str) -> None:
    write_exports(tmp_path)
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    staff, cases = take_in(settings, [Dataset.STAFF, Dataset.CASES], AS_OF)
    assert (staff.rows, staff.stored, cases.rows, cases.stored) == (11, 11, 4, 4)

    with engine_from(settings).connect() as connection:
        roles = dict(connection.execute(select(models.Staff.staff_ref, models.Staff.role)).all())
        active = dict(connection.execute(select(models.Staff.staff_ref, models.Staff.active)).all())
        stored_cases = connection.execute(
            select(models.CaseRecord.case_ref, models.CaseRecord.audit_type, models.Area.code)
            .join(models.Area, models.Area.id == models.CaseRecord.area_id)
            .order_by(models.CaseRecord.case_ref)
        ).all()
    assert roles["100003"] == "practice_lead" and roles["100021"] == "senior_practitioner"
    assert roles["100022"] == "practitioner" and roles["100001"] == "director"
    assert active["100013"] is False and active["100012"] is True
    assert [tuple(row) for row in stored_cases] == [
        ("AS-0001", "care_act_assessment", "N"),
        ("AS-0002", "care_act_review", "S"),  # its locality blank: the service area is taken
        ("AS-0003", "mca_assessment", "N"),
        ("AS-0004", "safeguarding", "S"),
    ]


def test_a_job_title_the_map_does_not_know_is_named_by_the_checks(tmp_path: Path, store_url: str) -> None:
    write_exports(tmp_path)
    HR_EXPORT.assign(
        **{"Job Title": HR_EXPORT["Job Title"].replace("Advanced Practitioner", "Consultant SW")}
    ).to_excel(tmp_path / "staff in post.xlsx", index=False)
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    with pytest.raises(
        Exception,
        match=r"role \(the source's 'Job Title'\) is not one of .*: 1 row\(s\): 100021 \(values: Consultant SW\)",
    ):
        take_in(settings, [Dataset.STAFF], AS_OF)


def test_a_named_encoding_that_does_not_fit_says_which_setting_to_change(tmp_path: Path, store_url: str) -> None:
    write_exports(tmp_path)
    data = yaml.safe_load(council_config(tmp_path, store_url).read_text())
    data["sources"]["cases"]["encoding"] = "utf-8"
    (tmp_path / "council.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    settings = load_settings(tmp_path / "council.yaml")
    with pytest.raises(SourceError, match=r"open cases.csv: not readable as utf-8 .* the source's `encoding:` setting"):
        read_dataset(settings, Dataset.CASES)


def test_a_past_audit_log_without_grades_and_with_closed_cases_feeds_the_repeat_rules(
    tmp_path: Path, store_url: str
) -> None:
    write_exports(tmp_path)
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    *_, history = take_in(settings, [Dataset.STAFF, Dataset.CASES, Dataset.AUDIT_HISTORY], AS_OF)
    assert (history.rows, history.stored, history.new) == (3, 3, 3)

    inputs = selection_inputs(engine_from(settings), settings, date(2026, 12, 7))
    assert {"AS-0900", "AS-0901", "AS-0003"} <= inputs.audited  # never drawn again, open or closed
    # Newest first: cycle 8 (its worker still here), then cycle 7 with the closed cases' workers, the
    # leaver included.
    assert inputs.recent_cycles == (frozenset({"100011"}), frozenset({"100099", "100021"}))
    assert inputs.audited_cycles == (date(2026, 10, 26), date(2026, 9, 14))
    with engine_from(settings).connect() as connection:
        returns = connection.scalar(select(func.count()).select_from(models.AuditReturn))
    assert returns == 0  # no grade was recorded, so no past return is invented

    # The closed case reopens under its old reference: it is in the extract again, and still not drawable.
    write_exports(tmp_path, [*CASE_EXPORT, [
        "AS-0900", "C-9900", "REV", "South", "", "South Review Team", "100022", "01/11/2026", "15/11/2026", "", "",
    ]])  # fmt: skip
    take_in(settings, [Dataset.CASES], AS_OF)
    inputs = selection_inputs(engine_from(settings), settings, date(2026, 12, 7))
    assert "AS-0900" in set(inputs.cases["case_ref"]) and "AS-0900" in inputs.audited


def test_a_past_audit_of_an_open_case_by_a_worker_who_has_left_is_kept_and_never_drawn_again(
    tmp_path: Path, store_url: str
) -> None:
    # Seen: a past audit of a case still open, its practitioner since left (not in the staff list), made the
    # whole history refuse to load; and those are rows the "never the same case twice" rule needs.
    write_exports(tmp_path)
    left = pd.DataFrame([["Cycle 7", "14/09/2026", "AS-0002", "100098"]], columns=PAST_AUDITS.columns)
    pd.concat([PAST_AUDITS, left]).to_csv(tmp_path / "past audits.csv", index=False)
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    *_, history = take_in(settings, [Dataset.STAFF, Dataset.CASES, Dataset.AUDIT_HISTORY], AS_OF)
    assert (history.rows, history.stored) == (4, 4)
    inputs = selection_inputs(engine_from(settings), settings, date(2026, 12, 7))
    assert "AS-0002" in set(inputs.cases["case_ref"]) and "AS-0002" in inputs.audited
    assert inputs.recent_cycles[1] == frozenset({"100099", "100021", "100098"})


def test_a_log_that_dates_a_cycle_on_one_row_or_names_it_by_its_date_alone_is_read(
    tmp_path: Path, store_url: str
) -> None:
    write_exports(tmp_path)
    # The cycle's date on its first row only.
    PAST_AUDITS.assign(**{"Cycle Start": ["14/09/2026", None, "26/10/2026"]}).to_csv(
        tmp_path / "past audits.csv", index=False
    )
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    *_, history = take_in(settings, [Dataset.STAFF, Dataset.CASES, Dataset.AUDIT_HISTORY], AS_OF)
    assert history.stored == 3
    inputs = selection_inputs(engine_from(settings), settings, date(2026, 12, 7))
    assert inputs.recent_cycles == (frozenset({"100011"}), frozenset({"100099", "100021"}))
    assert inputs.audited_cycles == (date(2026, 10, 26), date(2026, 9, 14))

    # No cycle column at all: each cycle is known by its selection date, and ordered by it.
    data = yaml.safe_load((tmp_path / "council.yaml").read_text())
    del data["sources"]["audit_history"]["columns"]["cycle_ref"]
    (tmp_path / "council.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    PAST_AUDITS.drop(columns=["Audit Cycle"]).assign(**{"Case ID": ["AS-0001", "AS-0002", "AS-0004"]}).to_csv(
        tmp_path / "past audits.csv", index=False
    )
    other = load_settings(tmp_path / "council.yaml")
    take_in(other, [Dataset.AUDIT_HISTORY], AS_OF)
    with engine_from(other).connect() as connection:
        named = set(connection.scalars(select(models.AuditCycle.cycle_ref)))
    assert {"14/09/2026", "26/10/2026"} <= named
    inputs = selection_inputs(engine_from(other), other, date(2026, 12, 7))
    assert {"AS-0001", "AS-0002", "AS-0004"} <= inputs.audited
    assert inputs.recent_cycles[0] >= {"100011"} and inputs.audited_cycles[0] == date(2026, 10, 26)


def test_a_past_audit_of_a_case_moved_to_another_cycle_is_refused(tmp_path: Path, store_url: str) -> None:
    write_exports(tmp_path)
    settings = load_settings(council_config(tmp_path, store_url))
    upgrade(engine_from(settings))
    take_in(settings, [Dataset.STAFF, Dataset.CASES, Dataset.AUDIT_HISTORY], AS_OF)
    PAST_AUDITS.assign(**{"Audit Cycle": "Cycle 8", "Cycle Start": "26/10/2026"}).iloc[[0]].to_csv(
        tmp_path / "past audits.csv", index=False
    )
    with pytest.raises(
        LoadError, match=r"already audited by the regular programme in another cycle: 1 row\(s\): AS-0900"
    ):
        take_in(settings, [Dataset.AUDIT_HISTORY], AS_OF)
