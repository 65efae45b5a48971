"""Emails the mail server did not deliver to everyone, on SQLite and PostgreSQL: listed for the QA team by
staff id (never by address), and put back once the address is corrected in the staff list: a partly sent
message to its corrected recipients alone, a given-up one to the queue."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import aliased
from typer.testing import CliRunner

from checks.returns import check_return_file
from cli.main import app
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import MAX_ATTEMPTS, enqueue, send_queued
from qaloop.messaging.undelivered import retry_undelivered, undelivered
from qaloop.returns.chasing import chase
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import SmtpSink, write_config
from tests.messaging.test_outbox import message
from tests.returns.test_filing import DONE, TODAY, case_of, sent_workbooks


def _mail_to(settings: Settings, sink: SmtpSink) -> Settings:
    email = settings.email.model_copy(update={"smtp_port": sink.port, "messages_per_minute": 60_000})
    return settings.model_copy(update={"email": email})


def _set_address(settings: Settings, staff_ref: str, address: str) -> None:
    """As loading a staff list with this address for ``staff_ref`` does."""
    with engine_from(settings).begin() as connection:
        connection.execute(update(models.Staff).where(models.Staff.staff_ref == staff_ref).values(email=address))


def refused_again_and_again(settings: Settings, times: int) -> str:
    """An auditor whose address in the staff list the relay refuses, and a message to them refused ``times``
    times; returns the auditor's staff id."""
    engine = engine_from(settings)
    with engine.connect() as connection:
        auditor = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "senior_practitioner"))
    _set_address(settings, auditor, "refuse.auditor@qaloop-demo.example")
    enqueue(engine, [message(1, to="refuse.auditor@qaloop-demo.example")])
    for _ in range(times):
        send_queued(engine, settings.email)
    return auditor


def _line_manager_of_the_practitioner(settings: Settings, case_ref: str) -> str:
    practitioner, manager = aliased(models.Staff), aliased(models.Staff)
    with engine_from(settings).connect() as connection:
        return connection.scalar(
            select(manager.staff_ref)
            .select_from(models.Allocation)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .join(practitioner, practitioner.id == models.Allocation.practitioner_id)
            .join(manager, manager.id == practitioner.line_manager_id)
            .where(models.CaseRecord.case_ref == case_ref)
        )


def test_a_feedback_email_refused_for_the_line_manager_goes_again_to_them_alone_once_corrected(
    notified: Settings, smtp_server: SmtpSink
) -> None:
    settings = _mail_to(notified, smtp_server)
    engine = engine_from(settings)
    send_queued(engine, settings.email)  # the cycle's allocation emails, out of the way
    smtp_server.messages.clear()
    sent = sent_workbooks(settings)[0]
    manager = _line_manager_of_the_practitioner(settings, case_of(sent))
    _set_address(settings, manager, "refuse.manager@qaloop-demo.example")  # a typo in the HR export
    complete_audit_workbook(sent, settings.returns.inbox / "audit.xlsx", grade="Good", completed_on=DONE)
    ingest_files(engine, settings, [settings.returns.inbox / "audit.xlsx"], TODAY, check_return_file, follow_up)

    assert send_queued(engine, settings.email).partly_sent == 1
    [feedback] = smtp_server.messages
    assert feedback["Cc"] == "refuse.manager@qaloop-demo.example"  # asked for, refused at RCPT
    with engine.connect() as connection:
        [missing] = undelivered(connection)
    assert missing.status == "partly_sent" and case_of(sent) in missing.subject
    assert missing.refused == (f"staff {manager}: 550 5.1.1 mailbox unavailable",)

    chase(engine, settings, TODAY)  # the QA team's daily summary lists it, by staff id and case reference
    with engine.connect() as connection:
        summary = connection.execute(
            select(models.EmailOutbox).where(models.EmailOutbox.kind == "overdue_summary")
        ).one()
    assert "1 email(s) not delivered to everyone" in summary.subject
    assert f"staff {manager}: 550" in summary.text_body and case_of(sent) in summary.text_body
    assert "refuse.manager" not in summary.text_body + summary.html

    uncorrected = retry_undelivered(engine)  # not corrected yet: nothing goes, and it says who
    assert (uncorrected.resent, uncorrected.uncorrected) == (0, [f"staff {manager} (message {missing.outbox_id})"])
    _set_address(settings, manager, "corrected.manager@qaloop-demo.example")
    assert retry_undelivered(engine).resent == 1
    assert retry_undelivered(engine).resent == 0  # put back once
    smtp_server.messages.clear()
    send_queued(engine, settings.email)
    [again] = [m for m in smtp_server.messages if m["Subject"] == feedback["Subject"]]
    assert (again["To"], again["Cc"]) == ("corrected.manager@qaloop-demo.example", None)  # the practitioner had it
    with engine.connect() as connection:
        assert undelivered(connection) == []


def test_a_given_up_email_goes_back_in_the_queue_to_the_corrected_address(
    county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = _mail_to(county, smtp_server)
    engine = engine_from(settings)
    auditor = refused_again_and_again(settings, MAX_ATTEMPTS)
    with engine.connect() as connection:
        [missing] = undelivered(connection)
    assert missing.status == "failed" and missing.refused == (f"staff {auditor}: 550 5.1.1 mailbox unavailable",)

    config = write_config(settings, tmp_path, smtp_server.port)
    doctor = CliRunner().invoke(app, ["doctor", "--config", str(config)])
    assert "1 message(s) given up after the server refused them" in doctor.output

    _set_address(settings, auditor, "auditor.corrected@qaloop-demo.example")
    result = CliRunner().invoke(app, ["send", "--retry-failed", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "Put back: 1 email(s) given up" in result.output and "1 sent, 0 refused" in result.output
    assert [m["To"] for m in smtp_server.messages] == ["auditor.corrected@qaloop-demo.example"]
    with engine.connect() as connection:
        assert undelivered(connection) == []
