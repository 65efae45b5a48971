"""The service performance review's workbook in the shape of Coventry's Appendix 2: a sheet per lens with each
judgement area, its evidence pre-filled from the store (recomputed here), and the Comments, Judgement (I, RI, G, O,
a drop-down) and Actions columns left for the head of service."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from checks.indicators import check_and_load_indicators
from qaloop.core.settings import Settings
from qaloop.demo.indicators import generate_indicators, write_indicators
from qaloop.governance.indicators import GovernanceError
from qaloop.governance.review import HEADINGS, LENSES, review_evidence, review_period, write_review_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from

PERIOD_END = date(2027, 1, 31)  # the closed cycle's audits came in January


def test_the_period_is_the_six_whole_months_ending_with_the_month() -> None:
    period = review_period(date(2027, 1, 20))
    assert (period.start, period.end, period.label) == (date(2026, 8, 1), date(2027, 1, 31),
                                                        "August 2026 to January 2027")  # fmt: skip


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_workbook_has_a_sheet_per_lens_with_its_evidence_pre_filled(closed: Settings) -> None:
    engine = engine_from(closed)
    write_indicators(closed, generate_indicators(closed, date(2027, 2, 4)))
    check_and_load_indicators(closed, date(2027, 2, 4))
    book = load_workbook(write_review_workbook(engine, closed, "OPPD", PERIOD_END))
    assert book.sheetnames == ["Service area", *(sheet for sheet, _, _ in LENSES.values()), "Actions register",
                               "5 Key summary points", "6 Panel"]  # fmt: skip
    cover = {row[0]: row[1] for row in book["Service area"].iter_rows(min_row=2, values_only=True)}
    assert cover["Service Area"] == "Older people and physical disability"
    assert cover["Performance period being considered"] == "August 2026 to January 2027"
    for sheet_name, _, areas in LENSES.values():
        sheet = book[sheet_name]
        assert [cell.value for cell in sheet[2]] == list(HEADINGS)
        assert [row[0] for row in sheet.iter_rows(min_row=3, values_only=True)] == list(areas)
        # Comments, Judgement and Actions are the head of service's; the judgement is one of I, RI, G, O.
        assert all(row[1] is None and row[3] is None and row[4] is None
                   for row in sheet.iter_rows(min_row=3, values_only=True))  # fmt: skip
        [judgement] = sheet.data_validations.dataValidation
        assert judgement.formula1 == '"I,RI,G,O"'
        assert str(judgement.sqref).split() == [f"D{row}" for row in range(3, 3 + len(areas))]
    independent = book["1 Independent challenge"]["C3"].value
    assert (
        "ASC-01 Care Act assessments completed within 28 days (Older people and physical disability): " in independent
    )
    assert "Special cause variation: concern (lower)" in independent  # the demo's drifting indicator
    with engine.connect() as connection:
        grades = connection.execute(
            select(models.AuditReturn.grade).where(
                models.AuditReturn.status == "filed",
                models.AuditReturn.submitted_on.between(date(2026, 8, 1), PERIOD_END))
        ).scalars().all()  # fmt: skip
    scale = closed.grade_scale
    good = sum(scale.rank(grade) >= scale.good_rank for grade in grades)
    audits = book["3 Professional challenge"]["C3"].value
    assert f"{len(grades)} case file audit(s) returned: {good} good or better, " in audits
    assert audits.startswith("ASC-03 ")  # the professional lens's indicators first
    assert "corrective actions opened:" in audits
    assert "survey answer(s) satisfied" in book["4 Citizen challenge"]["C8"].value


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_service_area_not_configured_is_refused(closed: Settings) -> None:
    with pytest.raises(GovernanceError, match="no service area 'EH' is configured"):
        write_review_workbook(engine_from(closed), closed, "EH", PERIOD_END)


def _teams(settings: Settings, teams: list[str]) -> Settings:
    areas = dict(settings.governance.service_areas)
    areas["OPPD"] = areas["OPPD"].model_copy(update={"teams": teams})
    return settings.model_copy(update={"governance": settings.governance.model_copy(update={"service_areas": areas})})


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_evidence_is_the_service_areas_teams_recomputed_from_the_store(closed: Settings) -> None:
    teams = ["North East Locality 1", "Mid Reablement 1"]
    settings = _teams(closed, teams)
    engine = engine_from(settings)
    evidence = review_evidence(engine, settings, "OPPD", review_period(PERIOD_END))
    team, case, audit = models.Team, models.CaseRecord, models.AuditReturn
    with engine.connect() as connection:
        ids = connection.execute(select(team.id).where(team.name.in_(teams))).scalars().all()
        grades = connection.execute(
            select(audit.grade).join(models.Allocation, models.Allocation.id == audit.allocation_id)
            .join(case, case.id == models.Allocation.case_id)
            .where(case.team_id.in_(ids), audit.status == "filed", audit.submitted_on.between(date(2026, 8, 1),
                                                                                            PERIOD_END))
        ).scalars().all()  # fmt: skip
        complaints = connection.execute(
            select(models.Complaint.outcome).where(models.Complaint.team_id.in_(ids),
                                                   models.Complaint.received_on.between(date(2026, 8, 1), PERIOD_END))
        ).scalars().all()  # fmt: skip
    everyone = review_evidence(engine, closed, "OPPD", review_period(PERIOD_END))
    [audits, _] = evidence["professional"]["Results of structured case file audit activity"][-2:]
    scale = settings.grade_scale
    good = sum(scale.rank(grade) >= scale.good_rank for grade in grades)
    assert audits.startswith(f"{len(grades)} case file audit(s) returned: {good} good or better")
    assert audits.endswith("(the teams North East Locality 1, Mid Reablement 1)")
    assert 0 < len(grades) < int(everyone["professional"]["Results of structured case file audit activity"][-2]
                                  .split(" ")[0])  # fmt: skip
    [feedback] = evidence["citizen"]["Complaints / compliments received"]
    assert feedback.startswith(f"{len(complaints)} complaint(s), "
                               f"{sum(o in ('upheld', 'partly upheld') for o in complaints)} upheld")  # fmt: skip


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_team_not_in_the_staff_list_is_refused_by_name(closed: Settings) -> None:
    settings = _teams(closed, ["North East Locality 1", "Hospital At Home"])
    with pytest.raises(GovernanceError, match=r"OPPD.teams: 'Hospital At Home' not in the staff list's teams"):
        review_evidence(engine_from(settings), settings, "OPPD", review_period(PERIOD_END))


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_pack_lists_the_service_areas_part_of_the_actions_register(closed: Settings) -> None:
    teams = ["North East Locality 1", "Mid Reablement 1"]
    settings = _teams(closed, teams)
    engine = engine_from(settings)
    with engine.begin() as connection:  # opened as the audits came in, in the period
        connection.execute(update(models.CorrectiveAction).values(opened_at=datetime(2027, 1, 12, 9, tzinfo=UTC)))
    book = load_workbook(write_review_workbook(engine, settings, "OPPD", PERIOD_END))
    rows = list(book["Actions register"].iter_rows(min_row=3, values_only=True))
    action, case = models.CorrectiveAction, models.CaseRecord
    with engine.connect() as connection:
        expected = connection.execute(
            select(action.id, action.opened_at, action.closed_at)
            .join(models.Allocation, models.Allocation.id == action.allocation_id)
            .join(case, case.id == models.Allocation.case_id)
            .join(models.Team, models.Team.id == case.team_id)
            .where(models.Team.name.in_(teams))
        ).all()  # fmt: skip
    listed = sorted(row.id for row in expected if row.opened_at.date() <= PERIOD_END
                    and (row.opened_at.date() >= date(2026, 8, 1) or row.closed_at is None))  # fmt: skip
    assert listed and sorted(row[0] for row in rows) == listed
    assert all(row[1] == "audit" and row[2].startswith("case ") for row in rows)
