"""Moderation end to end in real Prefect with a real SMTP server, on SQLite and PostgreSQL: the closed
cycle's sample drawn and allocated to practice leads with their forms, the forms returned and filed,
feedback to the auditors, and the agreement figures kept for the cycle report."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from typer.testing import CliRunner

from checks.returns import check_return_file
from cli.main import app
from flows.ingest_returns import ingest_returns
from flows.moderation import moderation
from qaloop.core.settings import Settings
from qaloop.returns.chasing import chase
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import auditors_grade, complete_audit_workbook, complete_moderation_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import SmtpSink, write_config
from tests.mail import assert_no_staff_name_appears

pytestmark = pytest.mark.slow  # whole flows in real Prefect

GRADES = ["Requires improvement", "Adequate", "Good", "Outstanding"]


def test_a_closed_cycle_is_moderated_and_its_agreement_kept(
    prefect_harness: None, notified: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(notified)
    workbooks = sorted((notified.output_dir / "cycles" / "2026-09" / "workbooks").glob("* audit tool.xlsx"))
    returned = [
        complete_audit_workbook(
            sent, notified.returns.inbox / sent.name, grade=GRADES[i % 4], completed_on=date(2027, 1, 8)
        )
        for i, sent in enumerate(workbooks[:-1])  # the last auditor returns late, after moderation is drawn
    ]
    ingest_files(engine, notified, returned, date(2027, 1, 8), check_return_file, follow_up)
    config = str(write_config(notified, tmp_path, smtp_server.port))

    assert moderation(config=config, today=date(2027, 1, 11)).drawn == {}  # the window is still open
    first = moderation(config=config, today=date(2027, 1, 12))
    assert first.drawn == {"2026-09": 12}  # ceil(20 % of 59)
    with engine.connect() as connection:
        sampled = connection.execute(
            select(
                models.Moderation.return_id,
                models.AuditReturn.auditor_id,
                models.Moderation.moderator_id,
                models.Staff.role,
                models.AuditReturn.grade,
            )  # fmt: skip
            .join(models.AuditReturn, models.AuditReturn.id == models.Moderation.return_id)
            .join(models.Staff, models.Staff.id == models.Moderation.moderator_id)
        ).all()
    assert len(sampled) == 12 and {row.role for row in sampled} == {"practice_lead"}
    with engine.connect() as connection:
        sampled_reasons = dict(connection.execute(select(models.Moderation.id, models.Moderation.reason)).all())
    assert all(row.auditor_id != row.moderator_id for row in sampled)
    assert {row.grade for row in sampled} == set(GRADES)  # every grade represented
    forms = [m for m in smtp_server.messages if m["Subject"].startswith("Moderation: case")]
    assert len(forms) == 12
    book = load_workbook(io.BytesIO(next(forms[0].iter_attachments()).get_content()))
    assert "The auditor's grade" in [row[0].value for row in book["Moderation"].iter_rows()]
    assert_no_staff_name_appears(notified, forms)
    assert moderation(config=config, today=date(2027, 1, 13)).drawn == {}  # drawn once

    # A late audit filed after the draw changes nothing: the sample is drawn again from what it was drawn from.
    late = complete_audit_workbook(
        workbooks[0], notified.returns.inbox / "late.xlsx", grade="Good", completed_on=date(2027, 1, 12)
    )
    ingest_files(engine, notified, [late], date(2027, 1, 13), check_return_file, follow_up)
    explained = CliRunner().invoke(app, ["moderation", "explain", "2026-09", "-c", config])
    assert explained.exit_code == 0 and "identical to the record" in explained.output, explained.output
    assert explained.output.count("represents the grade") == 4
    with engine.begin() as connection:  # tamper with the record: the explanation must notice
        connection.execute(update(models.Moderation).where(models.Moderation.id == 1).values(reason="chosen by hand"))
    tampered = CliRunner().invoke(app, ["moderation", "explain", "2026-09", "-c", config])
    assert tampered.exit_code == 1 and "chosen by hand" in tampered.output
    with engine.begin() as connection:
        connection.execute(update(models.Moderation).where(models.Moderation.id == 1).values(reason=sampled_reasons[1]))

    # Moderations climb the reminder ladder: 3 working days before they are due, each moderator is told.
    chase(engine, notified, date(2027, 1, 20))
    with engine.connect() as connection:
        reminders = connection.scalars(
            select(models.EmailOutbox.text_body).where(models.EmailOutbox.key.like("%/chase/2027-01-20/%"))
        ).all()
    assert sum(text.count("moderation of case") for text in reminders) == 12

    sent_forms = sorted((notified.output_dir / "cycles" / "2026-09" / "moderation").glob("*.xlsx"))
    for index, form in enumerate(sent_forms):
        grade = auditors_grade(form)
        moderated = grade if index % 3 else GRADES[abs(GRADES.index(grade) - 1)]  # a third graded one apart
        complete_moderation_workbook(
            form, notified.returns.inbox / form.name, grade=moderated, completed_on=date(2027, 1, 21)
        )
    complete_moderation_workbook(  # a form with a grade off the scale
        sent_forms[0], notified.returns.inbox / "zz edited.xlsx", grade="Superb", completed_on=date(2027, 1, 21)
    )
    filed = ingest_returns(config=config, today=date(2027, 1, 21))
    assert (filed.filed, filed.quarantined_files) == (12, 1)
    assert any("zz edited.xlsx" in m["Subject"] for m in smtp_server.messages)  # the QA team is told
    feedback = [m for m in smtp_server.messages if m["Subject"].startswith("Moderation of your audit")]
    assert len(feedback) == 12

    moderation(config=config, today=date(2027, 1, 22))
    with engine.connect() as connection:
        figures = {
            (row.grouping, row.group_value): row for row in connection.execute(select(models.AgreementFigure.__table__))
        }
    overall = figures[("overall", "all")]
    assert overall.audits == 12 and overall.exact == 8 / 12 and overall.auditor_higher > 0
    assert overall.kappa is not None and overall.kappa_low <= overall.kappa <= overall.kappa_high
    assert ("to date: overall", "all") in figures and any(g == "auditor" for g, _ in figures)
