"""The outbox through yagmail to a real SMTP server: written once, sent once, refusals kept for next time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qaloop.core.settings import Settings
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import (
    CLAIM_BATCH,
    MAX_ATTEMPTS,
    MailServerUnreachable,
    Message,
    claim,
    enqueue,
    message_id,
    send_queued,
)
from qaloop.store.engine import engine_from, upgrade
from qaloop.store.models import EmailOutbox
from tests.conftest import SmtpSink


@pytest.fixture
def mail_settings(store_settings: Settings, smtp_server: SmtpSink) -> Settings:
    upgrade(engine_from(store_settings))
    email = store_settings.email.model_copy(update={"smtp_port": smtp_server.port, "messages_per_minute": 6000})
    return store_settings.model_copy(update={"email": email})


def message(n: int, to: str = "auditor{n}@qaloop-demo.example", subject_suffix: str = "", **extra) -> Message:  # noqa: ANN003
    return Message(
        key=f"2026-09/auditor/CR{n:04d}",
        kind="auditor",
        to=(to.format(n=n),),
        subject=f"Case CR{n:04d} allocated to you for audit{subject_suffix}",
        html=f"<p>Please audit case <b>CR{n:04d}</b> by 11 January 2027.</p>",
        text=f"Please audit case CR{n:04d} by 11 January 2027.",
        **extra,
    )


def outbox(settings: Settings) -> list[EmailOutbox]:
    with Session(engine_from(settings)) as session:
        return list(session.scalars(select(EmailOutbox).order_by(EmailOutbox.id)))


def test_messages_are_written_once_and_sent_once(
    mail_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(mail_settings)
    workbook = tmp_path / "CR0001 audit tool.xlsx"
    workbook.write_bytes(b"PK\x03\x04 pretend workbook")
    batch = [message(1, attachments=(workbook,)), message(2), message(3)]
    assert enqueue(engine, batch) == 3
    assert enqueue(engine, batch) == 0  # a re-run queues nothing new

    summary = send_queued(engine, mail_settings.email)
    assert (summary.sent, summary.refused, summary.still_queued) == (3, 0, 0)
    assert len(smtp_server.messages) == 3
    first = smtp_server.messages[0]
    assert first["To"] == "auditor1@qaloop-demo.example"
    assert first["Subject"] == "Case CR0001 allocated to you for audit"
    assert first["From"] == "Practice Quality Team <practice.quality@qaloop-demo.example>"
    assert first["Reply-To"] == "practice.quality@qaloop-demo.example"
    assert first["Message-ID"] == message_id("2026-09/auditor/CR0001", "qaloop-demo.example")
    assert first.get_body(("plain",)).get_content().strip() == "Please audit case CR0001 by 11 January 2027."
    assert "<b>CR0001</b>" in first.get_body(("html",)).get_content()
    assert [part.get_filename() for part in first.iter_attachments()] == ["CR0001 audit tool.xlsx"]
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 3
    assert all(row.status == "sent" and row.sent_at for row in outbox(mail_settings))

    assert send_queued(engine, mail_settings.email).sent == 0
    assert len(smtp_server.messages) == 3


def test_a_refused_message_stays_queued_with_its_error_until_it_gives_up(
    mail_settings: Settings, smtp_server: SmtpSink
) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(1), message(2, to="refuse.me@qaloop-demo.example"), message(3)])
    summary = send_queued(engine, mail_settings.email)
    assert (summary.sent, summary.refused, summary.still_queued) == (2, 1, 1)
    refused = outbox(mail_settings)[1]
    assert refused.status == "queued" and refused.attempts == 1
    assert "refuse.me@qaloop-demo.example refused: 550" in refused.last_error
    for _ in range(MAX_ATTEMPTS - 1):
        send_queued(engine, mail_settings.email)
    assert outbox(mail_settings)[1].status == "failed"
    assert len(smtp_server.messages) == 2


def test_sending_keeps_to_the_rate_limit(mail_settings: Settings) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(n) for n in range(4)])
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    slow = mail_settings.email.model_copy(update={"messages_per_minute": 30})
    send_queued(engine, slow, sleep=sleep, clock=lambda: now[0])
    assert waits == pytest.approx([2.0, 2.0, 2.0])  # 30 a minute: one every two seconds


def test_a_stop_between_messages_leaves_the_rest_queued(mail_settings: Settings, smtp_server: SmtpSink) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(n) for n in range(5)])
    progress: list[tuple[int, int]] = []
    summary = send_queued(
        engine, mail_settings.email, should_stop=lambda: len(progress) >= 2, on_progress=lambda *p: progress.append(p)
    )
    assert (summary.sent, summary.still_queued) == (2, 3)
    assert progress == [(1, 5), (2, 5)]
    assert send_queued(engine, mail_settings.email).sent == 3
    assert sorted(m["Subject"] for m in smtp_server.messages) == sorted(m.subject for m in map(message, range(5)))


def test_an_unreachable_server_sends_nothing_and_keeps_everything(mail_settings: Settings) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(1)])
    down = mail_settings.email.model_copy(update={"smtp_port": 1})
    with pytest.raises(MailServerUnreachable, match=r"the mail server at 127\.0\.0\.1:1 cannot be reached"):
        send_queued(engine, down)
    assert [(row.status, row.claimed_by) for row in outbox(mail_settings)] == [("queued", None)]


def test_the_demo_mail_sink_saves_each_message_as_an_eml_file(mail_settings: Settings, tmp_path: Path) -> None:
    import socket

    from qaloop.demo.mail_sink import start_sink

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = start_sink(tmp_path / "mail", port=port)
    try:
        engine = engine_from(mail_settings)
        enqueue(engine, [message(1), message(2)])
        send_queued(engine, mail_settings.email.model_copy(update={"smtp_port": port}))
    finally:
        sink.stop()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert [f.name for f in files] == [
        "00001 to auditor1@qaloop-demo.example.eml",
        "00002 to auditor2@qaloop-demo.example.eml",
    ]
    assert b"Subject: Case CR0002 allocated to you for audit" in files[1].read_bytes()


def test_a_message_refused_for_one_of_its_recipients_is_recorded_partly_sent_naming_them(
    mail_settings: Settings, smtp_server: SmtpSink
) -> None:
    engine = engine_from(mail_settings)
    feedback = message(1, to="practitioner1@qaloop-demo.example", cc=("refuse.manager1@qaloop-demo.example",))
    enqueue(engine, [feedback, message(2)])
    summary = send_queued(engine, mail_settings.email)
    assert (summary.sent, summary.partly_sent, summary.refused) == (2, 1, 0)
    [partly, whole] = outbox(mail_settings)
    assert (partly.status, whole.status) == ("partly_sent", "sent")
    assert partly.last_error == "refuse.manager1@qaloop-demo.example refused: 550 5.1.1 mailbox unavailable"
    assert whole.last_error is None
    assert len(smtp_server.messages) == 2  # the practitioner got theirs; nothing is sent again
    assert send_queued(engine, mail_settings.email).sent == 0


def test_a_run_counts_what_it_sent_over_every_attempt_and_nothing_another_sent(
    mail_settings: Settings, smtp_server: SmtpSink
) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(n) for n in range(6)])
    done: list[int] = []
    first = send_queued(engine, mail_settings.email, run="flow-run/A", on_progress=lambda d, t: done.append(d),
                        should_stop=lambda: len(done) >= 2)  # fmt: skip
    assert (first.sent, first.sent_by_run) == (2, 2)  # the attempt that was cut short
    enqueue(engine, [message(9)])
    other = send_queued(engine, mail_settings.email, run="flow-run/B", should_stop=lambda: False)
    assert (other.sent, other.sent_by_run) == (5, 5)  # another run took the rest
    again = send_queued(engine, mail_settings.email, run="flow-run/A")  # A's retry: nothing left
    assert (again.sent, again.sent_by_run) == (0, 2)  # A sent two in all, never B's five


def test_a_sender_claims_a_batch_and_the_next_sender_the_next(mail_settings: Settings) -> None:
    engine = engine_from(mail_settings)
    enqueue(engine, [message(n) for n in range(25)])
    batches = [claim(engine, sender, CLAIM_BATCH, 0.01) for sender in ("one", "two", "three", "four")]
    assert [len(batch) for batch in batches] == [10, 10, 5, 0]  # never every free row to the first
    ids = [row.id for batch in batches for row in batch]
    assert len(set(ids)) == 25


def test_the_relays_daily_cap_of_recipients_holds_the_rest_until_a_day_has_passed(
    mail_settings: Settings, smtp_server: SmtpSink
) -> None:
    engine = engine_from(mail_settings)
    capped = mail_settings.email.model_copy(update={"recipients_per_day": 4})
    enqueue(engine, [message(1, cc=("manager1@qaloop-demo.example",)), *[message(n) for n in range(2, 6)]])
    first = send_queued(engine, capped)
    assert (first.sent, first.still_queued, first.daily_cap_reached) == (3, 2, True)  # 2 + 1 + 1 recipients
    assert send_queued(engine, capped).sent == 0  # still within the 24 hours
    with engine.begin() as connection:  # as if a day had passed
        connection.execute(update(EmailOutbox).values(sent_at=EmailOutbox.sent_at - timedelta(hours=25)))
    later = send_queued(engine, capped)
    assert (later.sent, later.still_queued, later.daily_cap_reached) == (2, 0, False)
    assert len(smtp_server.messages) == 5


def test_a_message_that_cannot_be_built_fails_alone_and_the_queue_goes_on(
    mail_settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(mail_settings)
    broken = [
        message(1, subject_suffix="\r\nBcc: everyone@elsewhere.example"),  # a team name with a line break in it
        message(2, attachments=(tmp_path / "gone.xlsx",)),  # its workbook deleted since it was queued
    ]
    enqueue(engine, [*broken, message(3)])
    summary = send_queued(engine, mail_settings.email)
    assert (summary.sent, summary.cannot_be_built, summary.still_queued) == (1, 2, 0)
    assert [m["Subject"] for m in smtp_server.messages] == ["Case CR0003 allocated to you for audit"]
    first, second, _ = outbox(mail_settings)
    assert first.status == second.status == "failed"  # at once: building it again would fail the same way
    assert first.last_error.startswith("the message cannot be built:")
    assert "gone.xlsx" in second.last_error


def test_a_subject_is_fit_for_a_header_whatever_the_data_put_in_it(
    mail_settings: Settings, smtp_server: SmtpSink
) -> None:
    hostile = "Cycle 2026-09: Team North\r\nBcc: everyone@elsewhere.example \u202eevil" + "x" * 400
    composed = compose(
        mail_settings, "overdue_summary", key=("hostile",), to=["qa@qaloop-demo.example"], subject=hostile,
        context={"cycle_ref": "reminders", "rows": [], "columns": [], "undelivered": []},
    )  # fmt: skip
    assert composed.subject.startswith("Cycle 2026-09: Team North Bcc: everyone@elsewhere.example evil")
    assert len(composed.subject) == 250 and not any(c in composed.subject for c in "\r\n\u202e")
    enqueue(engine_from(mail_settings), [composed])
    assert send_queued(engine_from(mail_settings), mail_settings.email).sent == 1
    [delivered] = smtp_server.messages
    assert delivered["Bcc"] is None and delivered["To"] == "qa@qaloop-demo.example"
