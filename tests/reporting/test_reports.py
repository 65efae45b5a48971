"""The cycle's reports: every headline figure recomputed from the store with queries of the test's own, the
moderated grade honoured where configured, nobody named, the workshop dataset anonymised, the reports
distributed exactly once, and each report rendered by headless Chromium."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import case, func, select, update

from qaloop.core.settings import Recalculation, Settings
from qaloop.messaging.outbox import send_queued
from qaloop.reporting.cycle_close import build_reports, distribute
from qaloop.reporting.scrubber import Scrubber
from qaloop.reporting.workshop import workshop_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.chromium import rendered_dom, screenshot
from tests.conftest import CYCLE, SmtpSink

REPORTED_ON = date(2026, 12, 4)  # the triangulation covers September to November 2026
ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _shown(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}">([^<]*)<', html).group(1)


def _store_figures(settings: Settings, moderated: bool = False) -> dict[str, int]:
    """The cycle's headline counts, by the test's own queries."""
    audit, allocation, cycle = models.AuditReturn, models.Allocation, models.AuditCycle
    grade = func.coalesce(models.Moderation.moderated_grade, audit.grade) if moderated else audit.grade
    filed = (
        select(audit.submitted_on, allocation.audit_due, grade.label("grade"))
        .join(allocation, allocation.id == audit.allocation_id)
        .join(cycle, cycle.id == allocation.cycle_id)
        .outerjoin(
            models.Moderation, (models.Moderation.return_id == audit.id) & (models.Moderation.status == "submitted")
        )
        .where(cycle.cycle_ref == CYCLE, audit.status == "filed")
    )
    with engine_from(settings).connect() as connection:
        rows = connection.execute(filed).all()
        allocated = connection.scalar(
            select(func.count())
            .select_from(allocation)
            .join(cycle, cycle.id == allocation.cycle_id)
            .where(cycle.cycle_ref == CYCLE, allocation.status.not_in(["reserve", "replaced"]))
        )
        open_actions = connection.scalar(
            select(func.count()).select_from(models.CorrectiveAction).where(models.CorrectiveAction.status == "open")
        )
    return {
        "allocated": allocated,
        "submitted": len(rows),
        "on_time": sum(row.submitted_on <= row.audit_due for row in rows),
        "good": sum(row.grade in ("Good", "Outstanding") for row in rows),
        "below": sum(row.grade == "Requires improvement" for row in rows),
        "open_actions": open_actions,
    }


def test_the_summary_reports_figures_recompute_from_the_store(closed: Settings) -> None:
    built = build_reports(engine_from(closed), closed, CYCLE, REPORTED_ON)
    summary = next(r for r in built.reports if r.kind == "summary")
    html = summary.path.read_text()
    store = _store_figures(closed)
    assert store["submitted"] == store["allocated"] - 2 and 0 < store["on_time"] < store["submitted"]
    assert _shown(html, "completion") == f"{store['submitted'] / store['allocated']:.0%}"
    assert _shown(html, "timeliness") == f"{store['on_time'] / store['submitted']:.0%}"
    assert _shown(html, "good-share") == f"{store['good'] / store['submitted']:.0%}"
    assert _shown(html, "below-standard") == str(store["below"])
    assert _shown(html, "actions-open") == str(store["open_actions"]) and store["open_actions"] > 0

    # The p-chart: centre and this cycle's limits from every cycle shown, counted again from the store.
    pack = pd.read_excel(summary.data_pack, sheet_name=None)
    trend = pack["Trend"][pack["Trend"]["chart"] == "overall"]
    with engine_from(closed).connect() as connection:
        per_cycle = connection.execute(
            select(
                models.AuditCycle.cycle_ref,
                func.count(),
                func.sum(case((models.AuditReturn.grade.in_(["Good", "Outstanding"]), 1), else_=0)),
            )
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .where(models.AuditReturn.status == "filed")
            .group_by(models.AuditCycle.cycle_ref)
            .order_by(models.AuditCycle.cycle_ref)
        ).all()
    shown = per_cycle[-(closed.reports.past_cycles + 1) :]  # this cycle and the ones before it
    assert trend["cycle"].tolist() == [ref for ref, _, _ in shown]
    centre = sum(good for _, _, good in shown) / sum(n for _, n, _ in shown)
    n = shown[-1][1]
    assert trend["centre"].iloc[-1] == pytest.approx(centre)
    assert trend["upper_limit"].iloc[-1] == pytest.approx(min(1, centre + 3 * (centre * (1 - centre) / n) ** 0.5))
    assert trend["lower_limit"].iloc[-1] == pytest.approx(max(0, centre - 3 * (centre * (1 - centre) / n) ** 0.5))

    # Each area's row, and the moderation agreement as kept by the moderation flow.
    grades = pack["Grades"].set_index(["grouping", "group"])
    with engine_from(closed).connect() as connection:
        area_grades = connection.execute(
            select(models.Area.name, models.AuditReturn.grade)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .join(models.Area, models.Area.id == models.CaseRecord.area_id)
            .where(models.AuditCycle.cycle_ref == CYCLE, models.AuditReturn.status == "filed")
        ).all()
        overall = connection.execute(
            select(models.AgreementFigure.audits, models.AgreementFigure.exact).where(
                models.AgreementFigure.grouping == "overall"
            )
        ).one()
    # Each area's report shows the area's own counts; the highlights the cycle's.
    for report in (r for r in built.reports if r.kind == "area"):
        mine = [grade for area, grade in area_grades if area == report.area]
        shown = report.path.read_text()
        assert _shown(shown, "audits") == str(len(mine)) == str(grades.loc[("area", report.area), "audits"])
        good = sum(grade in ("Good", "Outstanding") for grade in mine)
        assert _shown(shown, "good-share") == f"{good / len(mine):.0%}"
        assert _shown(shown, "below-standard") == str(mine.count("Requires improvement"))
    highlights = next(r for r in built.reports if r.kind == "highlights").path.read_text()
    assert _shown(highlights, "audits") == str(store["submitted"])
    assert _shown(highlights, "good-share") == f"{store['good'] / store['submitted']:.0%}"
    agreement = pack["Agreement"].set_index("grouping")
    assert agreement.loc["overall", "audits"] == overall.audits
    assert f"{overall.exact:.0%}" in html
    # The agreement counts always shown; an audit type with a handful of moderated audits gets no kappa.
    assert f"{round(overall.exact * overall.audits)} of {overall.audits} ({overall.exact:.0%})" in html
    assert "too few moderated audits to say (fewer than 10)" in html
    with engine_from(closed).connect() as connection:
        assert (
            connection.scalar(select(models.AuditCycle.status).where(models.AuditCycle.cycle_ref == CYCLE)) == "closed"
        )
        kept = connection.execute(select(models.Report.kind, models.Report.path)).all()
    assert {kind for kind, _ in kept} == {"summary", "highlights", "area", "data_pack", "workshop_dataset"}
    assert all(Path(path).is_file() for _, path in kept)


@ONLY_SQLITE
def test_the_moderated_grade_replaces_the_auditors_where_configured(closed: Settings) -> None:
    engine = engine_from(closed)
    with engine.begin() as connection:  # moderators who disagree: every moderated audit re-graded the worst
        connection.execute(
            update(models.Moderation)
            .where(models.Moderation.status == "submitted")
            .values(moderated_grade="Requires improvement")
        )
    replaced = closed.model_copy(
        update={"moderation": closed.moderation.model_copy(update={"moderated_grade_replaces": True})}
    )
    for settings, moderated in ((closed, False), (replaced, True)):
        html = next(
            r for r in build_reports(engine, settings, CYCLE, REPORTED_ON).reports if r.kind == "summary"
        ).path.read_text()
        store = _store_figures(settings, moderated=moderated)
        assert _shown(html, "below-standard") == str(store["below"])
        assert _shown(html, "good-share") == f"{store['good'] / store['submitted']:.0%}"
    assert _store_figures(replaced, True)["below"] > _store_figures(closed)["below"]


def _personal_details(settings: Settings) -> set[str]:
    with engine_from(settings).connect() as connection:
        staff = connection.execute(select(models.Staff.staff_ref, models.Staff.name, models.Staff.email)).all()
        cases = connection.execute(select(models.CaseRecord.case_ref, models.CaseRecord.person_ref)).all()
    return {value for row in staff for value in row} | {value for row in cases for value in row}


@ONLY_SQLITE
def test_the_workshop_dataset_cannot_be_linked_to_anyone_from_one_known_pair(closed: Settings) -> None:
    # Seen: free text copied unscrubbed ("Good work by <name> (<staff id>, <email>) ... <case>") beside a
    # practitioner's pseudonym, the same in every cycle: one recognised audit re-identified that person's all.
    reports = closed.reports.model_copy(update={"workshop_free_text": ["strengths", "learning_points"]})
    settings = closed.model_copy(update={"reports": reports})
    engine = engine_from(settings)
    with engine.begin() as connection:
        audit = connection.execute(
            select(models.AuditReturn.id, models.Staff.staff_ref, models.Staff.name, models.Staff.email)
            .join(models.Allocation, models.Allocation.id == models.AuditReturn.allocation_id)
            .join(models.Staff, models.Staff.id == models.Allocation.practitioner_id)
            .join(models.AuditCycle, models.AuditCycle.id == models.Allocation.cycle_id)
            .where(models.AuditReturn.status == "filed", models.AuditCycle.cycle_ref == CYCLE)
            .order_by(models.AuditReturn.id)
        ).first()
        other_case = connection.scalar(select(models.CaseRecord.case_ref).order_by(models.CaseRecord.id.desc()))
        first, surname = audit.name.split(" ", 1)
        connection.execute(
            update(models.AuditReturn)
            .where(models.AuditReturn.id == audit.id)
            .values(
                strengths=f"Good work by {first.lower()} {surname} ({audit.staff_ref}, {audit.email}).",
                learning_points=f"{surname.upper()}'s visit to {other_case.lower()} with {first} Smithson.",
            )
        )
    built = build_reports(engine, settings, CYCLE, REPORTED_ON)
    audits = pd.read_excel(built.workshop)
    text = " ".join(audits[["strengths", "learning points"]].fillna("").to_numpy().ravel()).lower()
    assert "good work by [removed] [removed] ([removed], [removed])." in text
    assert "[removed] visit to [removed] with [removed] [removed]." in text
    for detail in (*_personal_details(settings), first, surname, "smithson"):
        assert detail.lower() not in text, detail

    # One (staff id, pseudonym) pair known in this cycle links nobody in another cycle's dataset.
    findings = built.figures.findings
    key = settings.reports.pseudonym_key.get_secret_value().encode()
    scrub = Scrubber()
    this = workshop_dataset(findings, built.figures.answers, settings, key, scrub)
    known = this.loc[findings["practitioner_ref"].eq(audit.staff_ref).to_numpy(), "practitioner"].iloc[0]
    later = workshop_dataset(findings.assign(cycle_ref="2026-10"), built.figures.answers, settings, key, scrub)
    assert known not in set(later["practitioner"]) and set(this["case"]).isdisjoint(later["case"])
    assert this["practitioner"].nunique() == later["practitioner"].nunique()  # the same people, unrecognisable
    linked = settings.model_copy(
        update={"reports": settings.reports.model_copy(update={"link_pseudonyms_across_cycles": True})}
    )
    assert (
        workshop_dataset(findings, built.figures.answers, linked, key, scrub)["case"].tolist()
        == workshop_dataset(findings.assign(cycle_ref="2026-10"), built.figures.answers, linked, key, scrub)[
            "case"
        ].tolist()
    )


@ONLY_SQLITE
def test_no_report_and_no_workshop_cell_names_a_case_a_person_or_a_member_of_staff(closed: Settings) -> None:
    built = build_reports(engine_from(closed), closed, CYCLE, REPORTED_ON)
    details = _personal_details(closed)
    for report in built.reports:
        text = report.path.read_text()
        assert not [value for value in details if value in text], report.path.name
    highlights = next(r for r in built.reports if r.kind == "highlights").path.read_text()
    assert "[removed]" in highlights  # the learning point naming someone was quoted, scrubbed

    book = load_workbook(built.workshop, read_only=True)
    cells = {str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row if cell}
    assert not {cell for cell in cells for value in details if value in cell}
    audits = pd.read_excel(built.workshop)
    assert len(audits) == len(built.figures.findings)
    assert audits["case"].str.fullmatch(r"C-[0-9a-f]{10}").all() and audits["case"].is_unique
    assert "learning points" not in audits.columns  # free text only where configured
    # The same case has the same pseudonym next time; another key gives others.
    assert (
        pd.read_excel(build_reports(engine_from(closed), closed, CYCLE, REPORTED_ON).workshop)["case"].tolist()
        == audits["case"].tolist()
    )
    other = closed.model_copy(update={"reports": closed.reports.model_copy(update={"pseudonym_key": SecretStr("x")})})
    assert set(pd.read_excel(build_reports(engine_from(other), other, CYCLE, REPORTED_ON).workshop)["case"]).isdisjoint(
        audits["case"]
    )


@ONLY_SQLITE
def test_the_reports_are_distributed_exactly_once_to_their_lists(closed: Settings, smtp_server: SmtpSink) -> None:
    engine = engine_from(closed)
    settings = closed.model_copy(
        update={"email": closed.email.model_copy(update={"smtp_port": smtp_server.port, "messages_per_minute": 60_000})}
    )
    built = build_reports(engine, settings, CYCLE, REPORTED_ON)
    with engine.begin() as connection:  # the cycle's earlier emails are not this test's
        connection.execute(update(models.EmailOutbox).values(status="sent"))
    assert distribute(engine, settings, built) == 2 + len(settings.authority.areas) + 1
    assert distribute(engine, settings, build_reports(engine, settings, CYCLE, REPORTED_ON)) == 0
    send_queued(engine, settings.email)
    received = {message["Subject"]: message for message in smtp_server.messages}
    assert len(received) == len(smtp_server.messages) == 7
    summary = next(m for s, m in received.items() if s.startswith("Quality assurance summary"))
    assert summary["To"] == "practice.governance@qaloop-demo.example"
    assert sorted(part.get_filename() for part in summary.iter_attachments()) == [
        f"summary-{CYCLE}-data.xlsx",
        f"summary-{CYCLE}.html",
    ]
    highlights = next(m for s, m in received.items() if s.startswith("Highlights"))
    assert highlights["To"] == "sp.network@qaloop-demo.example"
    with engine.connect() as connection:
        area_heads = connection.execute(
            select(models.Staff.email)
            .join(models.Area, models.Area.id == models.Staff.area_id)
            .where(models.Area.code == "NE", models.Staff.role.in_(["director", "service_manager"]))
        ).scalars()
        expected = set(area_heads)
    north_east = next(m for s, m in received.items() if s.startswith("North East outcomes"))
    assert {address.strip() for address in north_east["To"].split(",")} == expected
    workshop = next(m for s, m in received.items() if "workshop dataset" in s)
    assert workshop["To"] == "practice.quality@qaloop-demo.example"


@ONLY_SQLITE
@pytest.mark.browser
def test_each_report_renders_in_headless_chromium(closed: Settings, tmp_path: Path) -> None:
    for report in build_reports(engine_from(closed), closed, CYCLE, REPORTED_ON).reports:
        screenshot(report.path, tmp_path)


@ONLY_SQLITE
@pytest.mark.browser
def test_the_summary_shows_a_recalculation_step_provisional_limits_and_too_few_to_say(
    closed: Settings, tmp_path: Path
) -> None:
    engine = engine_from(closed)
    with engine.connect() as connection:
        refs = connection.scalars(
            select(models.AuditCycle.cycle_ref)
            .where(models.AuditCycle.programme == "regular")
            .order_by(models.AuditCycle.selection_date)
        ).all()
    step = refs[-5]  # the audit tool changed five cycles ago: too few cycles since for a reading
    reports = closed.reports.model_copy(
        update={"spc_recalculate_from": [Recalculation(cycle=step, reason="new audit tool")]}
    )
    settings = closed.model_copy(update={"reports": reports})
    built = build_reports(engine, settings, CYCLE, REPORTED_ON)
    summary = next(report for report in built.reports if report.kind == "summary")
    dom = rendered_dom(summary.path, tmp_path)
    assert "recalculated: new audit tool" in dom
    assert "Limits from fewer than 13 points are provisional" in dom
    assert f"no reading of special cause yet (5 cycles since the recalculation at {step})" in dom
    agreement = re.search(r'<table id="agreement">(.*?)</table>', dom, re.S).group(1)
    assert "too few moderated audits to say (fewer than 10)" in agreement
    assert '<table id="methods">' in dom and "expanded BCa bootstrap" in dom
    pack = pd.read_excel(summary.data_pack, sheet_name=None)
    trend = pack["Trend"][pack["Trend"]["chart"] == "overall"]
    after = trend[trend["period_from"] == step]
    assert (
        len(after) == 5
        and set(after["limits"]) == {"provisional"}
        and set(after["recalculated_for"]) == {"new audit tool"}
    )
    before = trend[trend["period_from"] != step]
    assert before["centre"].nunique() == 1 and after["centre"].nunique() == 1
    assert before["centre"].iloc[0] != pytest.approx(after["centre"].iloc[0])
    assert "weighted kappa (auditors against moderators)" in set(pack["Methods"]["statistic"])
    assert set(pack["Triangulation method"]["method"]) >= {"exact binomial limits", "exact Poisson limits"}
