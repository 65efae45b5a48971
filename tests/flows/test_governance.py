"""The governance flows in real Prefect with a real SMTP server, on SQLite and PostgreSQL.

The performance compendium: before its day nothing; on its day the month's KPI return checked and stored and the
compendium (HTML, rendered in headless Chromium, and XLSX) sent to the managers once, its readings published; a KPI
return that has not reached the month stops the run with the QA team told why, and the next working day, the
return loaded, it goes. Escalation by exception: an escalated audit and a bottom grade raised to the senior
leadership team and emailed once however often the flow runs, chased on the ladder until acknowledged (`qaloop
escalation acknowledge`), closed with its outcome (`qaloop escalation close`), listed so. The quarterly report: due
from its day in the month after the quarter, sent to the leadership team once, drawn in headless Chromium. The
service review: its workbook to the head of service once on its day, chased, the self-assessment and the panel's
record filed by the returns flow, the panel's key summary points to the service's staff."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest
from prefect.artifacts import Artifact
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from flows.escalation_by_exception import escalation_by_exception
from flows.ingest_returns import ingest_returns
from flows.performance_compendium import performance_compendium
from flows.quarterly_report import quarterly_report
from flows.service_review import service_review
from qaloop.core.settings import Settings
from qaloop.demo.indicators import generate_indicators, write_indicators
from qaloop.governance.review import complete_review_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.chromium import rendered_dom
from tests.conftest import SmtpSink, write_config
from tests.governance.test_escalations import SLT, _escalating, _returned
from tests.governance.test_review_panels import DUE_ON, PANEL, REFERENCE, SEND_ON

pytestmark = pytest.mark.slow  # whole flows in real Prefect

TODAY = date(2026, 12, 4)


def _attachments(message) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_the_compendium_goes_to_the_managers_once_on_its_day(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    upgrade(engine_from(store_settings))
    write_indicators(store_settings, generate_indicators(store_settings, TODAY))
    config = str(write_config(store_settings, tmp_path, smtp_server.port))
    assert performance_compendium(config=config, today=date(2026, 12, 3)).month is None
    assert smtp_server.messages == []
    sent = performance_compendium(config=config, today=TODAY)
    assert (sent.month, sent.emails_sent) == ("2026-11", 1)
    [message] = smtp_server.messages
    assert message["To"] == "all.managers@qaloop-demo.example"
    assert message["Subject"].startswith("Performance compendium, 2026-11: 6 indicator(s), ")
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "ASC-01 Care Act assessments completed within 28 days (Older people and physical disability)" in body
    attached = _attachments(message)
    assert set(attached) == {"performance-compendium-2026-11.html", "performance-compendium-2026-11.xlsx"}
    book = openpyxl.load_workbook(Path(sent.compendium).with_suffix(".xlsx"), read_only=True)
    assert book.sheetnames == ["indicators", "figures charted"]
    assert book["indicators"].max_row == 1 + 24  # six indicators, the whole service and three service areas
    published = Artifact.get("compendium-2026-11")
    assert published is not None and "special-cause concern" in str(published.data)
    # Rendered as a manager's browser shows it: every indicator's chart, with its reading beside it.
    page = rendered_dom(Path(sent.compendium), tmp_path)
    assert page.count("<svg") == 24
    assert 'aria-label="ASC-04 People waiting for a Care Act assessment"' in page
    assert "Special cause variation: concern (lower)" in page
    # It has gone: later runs that month send nothing more.
    again = performance_compendium(config=config, today=date(2026, 12, 7))
    assert (again.month, again.emails_sent) == (None, 0)
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_return_short_of_the_month_stops_the_run_and_the_next_working_day_it_goes(
    prefect_harness: None, store_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    upgrade(engine_from(store_settings))
    write_indicators(store_settings, generate_indicators(store_settings, date(2026, 11, 4)))  # up to October
    config = str(write_config(store_settings, tmp_path, smtp_server.port))
    state = performance_compendium(config=config, today=TODAY, return_state=True)
    assert state.is_failed()
    [alert] = smtp_server.messages
    assert alert["To"] == "practice.quality@qaloop-demo.example"
    said = alert.get_body(preferencelist=("plain",)).get_content()
    assert "no indicator figure for 2026-11 is stored (latest: 2026-10)" in said
    write_indicators(store_settings, generate_indicators(store_settings, TODAY))
    sent = performance_compendium(config=config, today=date(2026, 12, 7))
    assert (sent.month, sent.emails_sent) == ("2026-11", 1)
    assert smtp_server.messages[-1]["To"] == "all.managers@qaloop-demo.example"


def _to_leadership(sink: SmtpSink) -> list[str]:
    return [message["Subject"] for message in sink.messages if message["To"] == SLT]


def test_escalations_are_raised_once_chased_until_acknowledged_and_closed(
    prefect_harness: None, notified: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = _escalating(notified, "audit_escalation", "bottom_grade")
    escalated_case = _returned(settings)[1]
    config = str(write_config(settings, tmp_path, smtp_server.port))
    first = escalation_by_exception(config=config, today=date(2027, 1, 8))
    assert first.raised == ["ESC-1", "ESC-2"] and first.reminders == 0
    raised = _to_leadership(smtp_server)
    assert len(raised) == 2 and any(escalated_case in subject for subject in raised)
    assert escalation_by_exception(config=config, today=date(2027, 1, 8)).raised == []  # the next hour's run
    assert escalation_by_exception(config=config, today=date(2027, 1, 9)).raised == []  # a Saturday: nothing
    assert len(_to_leadership(smtp_server)) == 2
    chased = escalation_by_exception(config=config, today=date(2027, 1, 12))  # two working days on
    assert chased.reminders == 2
    assert escalation_by_exception(config=config, today=date(2027, 1, 12)).reminders == 0  # each step once
    with engine_from(settings).connect() as connection:
        director = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "director"))
    cli = CliRunner()
    done = cli.invoke(app, ["escalation", "acknowledge", "ESC-1", "--by", director, "--config", config])
    assert done.exit_code == 0 and done.output.strip() == f"ESC-1 acknowledged by {director}"
    done = cli.invoke(app, ["escalation", "acknowledge", "ESC-1", "--by", director, "--config", config])
    assert done.exit_code == 1 and "ESC-1 is already acknowledged" in done.output
    later = escalation_by_exception(config=config, today=date(2027, 1, 15))  # five: only ESC-2 is still waiting
    assert later.reminders == 1 and "Not yet acknowledged: escalation ESC-2" in _to_leadership(smtp_server)[-1]
    outcome = "Safeguarding plan in place; the team's next cycle doubled"
    done = cli.invoke(app, ["escalation", "close", "ESC-1", "--by", director, "--outcome", outcome, "--config", config])
    assert done.exit_code == 0
    listed = cli.invoke(app, ["escalation", "list", "--config", config]).output
    assert f"ESC-1 raised 2027-01-08, closed ({outcome})" in listed and "ESC-2 raised 2027-01-08, raised" in listed


def test_the_quarterly_report_goes_to_the_leadership_team_once(
    prefect_harness: None, closed: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(closed, tmp_path, smtp_server.port))
    assert quarterly_report(config=config, today=date(2027, 4, 9)).quarter is None  # before the 10th
    sent = quarterly_report(config=config, today=date(2027, 4, 12))
    assert sent.quarter == "2026-27 Q4" and sent.emails_sent >= 1
    [message] = [m for m in smtp_server.messages if m["To"] == "leadership.team@qaloop-demo.example"]
    assert message["Subject"].startswith("Quality assurance report to the leadership team, 2026-27 Q4: ")
    assert set(_attachments(message)) == {"quality-report-2026-27-Q4.html", "quality-report-2026-27-Q4.xlsx"}
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "What must improve:" in body and "Audits good or better against earlier quarters:" in body
    page = rendered_dom(Path(sent.report), tmp_path)
    for heading in ("The four sources of evidence", "By business unit", "By quality standard",
                    "Escalations raised in the quarter", "Corrective actions"):  # fmt: skip
        assert heading in page
    assert 'aria-label="Audits good or better, by quarter"' in page
    assert "S2 People have a positive experience and their voice is heard" in page
    assert quarterly_report(config=config, today=date(2027, 4, 13)).quarter is None  # it has gone


def test_the_service_review_goes_out_is_chased_and_comes_back_through_the_drop_folder(
    prefect_harness: None, closed: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(closed, tmp_path, smtp_server.port))
    with engine_from(closed).connect() as connection:
        head = connection.scalar(select(models.Staff.email).where(models.Staff.staff_ref == "E010005"))
    assert service_review(config=config, today=date(2027, 2, 24)).sent == []  # the day before its day
    smtp_server.messages.clear()  # what the closed cycle had left queued went with that run
    first = service_review(config=config, today=SEND_ON)
    assert (first.sent, first.emails_sent) == ([REFERENCE], 1)
    [sent] = smtp_server.messages
    assert sent["To"] == head and REFERENCE in sent["Subject"]
    [(name, workbook)] = _attachments(sent).items()
    assert name.endswith(f"{REFERENCE}.xlsx")
    assert service_review(config=config, today=SEND_ON).sent == []  # each workbook once
    assert service_review(config=config, today=DUE_ON).reminders == 1
    assert service_review(config=config, today=DUE_ON).reminders == 0  # each step once
    assert [m["Subject"] for m in smtp_server.messages[1:]] == [
        "Not yet returned: the service performance review of Older people and physical disability "
        f"({REFERENCE})"]  # fmt: skip
    received = tmp_path / name
    received.write_bytes(workbook)
    inbox = closed.returns.inbox
    complete_review_workbook(received, inbox / "self-assessment.xlsx", completed_on=DUE_ON)
    assert ingest_returns(config=config, today=DUE_ON).filed == 1
    complete_review_workbook(
        received, inbox / "panel.xlsx", completed_on=PANEL, summary_points="Caseloads are the priority.",
        panel_input="Challenged the discharge waits.", panel_actions=(("Review the pathway", "E010005", "30/06/2027"),),
    )  # fmt: skip
    before = len(smtp_server.messages)
    assert ingest_returns(config=config, today=PANEL).filed == 1
    told = [m for m in smtp_server.messages[before:] if "key summary points" in m["Subject"]]
    assert told and all("Caseloads are the priority." in m.get_body(preferencelist=("plain",)).get_content()
                        for m in told)  # fmt: skip
    listed = CliRunner().invoke(app, ["review", "list", "--config", config]).output
    assert f"{REFERENCE} (panel {PANEL}): sent {SEND_ON}, due {DUE_ON}, panel held; self-assessment: G 22; " in listed
    assert "panel's judgements: G 22" in listed
