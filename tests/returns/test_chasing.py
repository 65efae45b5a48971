"""Chasing one whole cycle day by day with a frozen clock, through Christmas and New Year bank holidays, with
every email through a real SMTP server: who is reminded of what on which day, never after submission,
never twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import aliased

from checks.returns import check_return_file
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import send_queued
from qaloop.returns.chasing import chase
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook, complete_reflection_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import SmtpSink

pytestmark = pytest.mark.slow  # whole flows in real Prefect

LONDON = ZoneInfo("Europe/London")
# Cycle 2026-09: allocated Wednesday 16 December 2026, self-reflections due Monday 4 January 2027, audits due
# Monday 11 January. Bank holidays on the way: 25 and 28 December 2026 (Boxing Day falls on a Saturday) and
# 1 January 2027. The demo ladder: 3 working days before and on the due date to the person, 2 after to the
# service manager, 5 after to the QA lead.
REFLECTION_LADDER = {
    date(2026, 12, 29): "practitioner",  # 3 working days before 4 January, counting back over 1 January
    date(2027, 1, 4): "practitioner",
    date(2027, 1, 6): "service manager",
    date(2027, 1, 11): "QA lead",
}
AUDIT_LADDER = {
    date(2027, 1, 6): "auditor",
    date(2027, 1, 11): "auditor",
    date(2027, 1, 13): "service manager",
    date(2027, 1, 18): "QA lead",
}
NO_WORK = {date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)}


def people(settings: Settings, case_ref: str) -> dict[str, str]:
    allocation, case = models.Allocation, models.CaseRecord
    auditor, practitioner, manager = aliased(models.Staff), aliased(models.Staff), aliased(models.Staff)
    with engine_from(settings).connect() as connection:
        row = connection.execute(
            select(auditor.email, practitioner.email, manager.email)
            .select_from(allocation)
            .join(case, case.id == allocation.case_id)
            .join(auditor, auditor.id == allocation.auditor_id)
            .join(practitioner, practitioner.id == allocation.practitioner_id)
            .join(manager, manager.id == allocation.service_manager_id)
            .where(case.case_ref == case_ref)
        ).one()
    return {"auditor": row[0], "practitioner": row[1], "service manager": row[2], "QA lead": settings.qa_lead}


def test_a_cycle_chased_day_by_day(notified: Settings, smtp_server: SmtpSink) -> None:
    settings = notified.model_copy(
        update={
            "email": notified.email.model_copy(update={"smtp_port": smtp_server.port, "messages_per_minute": 60_000})
        }
    )
    engine = engine_from(settings)
    workbooks = settings.output_dir / "cycles" / "2026-09" / "workbooks"
    audits = sorted(workbooks.glob("* audit tool.xlsx"))
    silent, returned = audits[0].name.split(" ")[0], audits[1].name.split(" ")[0]
    silent_people, returned_people = people(settings, silent), people(settings, returned)
    send_queued(engine, settings.email)  # the cycle's own emails, before the walk
    smtp_server.messages.clear()

    mentions: dict[tuple[date, str], list[str]] = defaultdict(list)  # (day, recipient) -> subjects and bodies
    day = date(2026, 12, 16)
    while day <= date(2027, 1, 22):
        with time_machine.travel(datetime(day.year, day.month, day.day, 8, tzinfo=LONDON), tick=False):
            today = date.today()
            if today == date(2026, 12, 22):  # the returned case's practitioner reflects early
                form = next(workbooks.glob(f"{returned} * self-reflection.xlsx"))
                reflection = settings.returns.inbox / "reflection.xlsx"
                complete_reflection_workbook(form, reflection, completed_on=today, reflection="On reflection...")
                assert ingest_files(engine, settings, [reflection], today, check_return_file, follow_up)[0].filed
            if today == date(2027, 1, 7):  # its auditor returns the audit the day after the first reminder
                audit = complete_audit_workbook(
                    audits[1], settings.returns.inbox / "audit.xlsx", grade="Good", completed_on=today
                )
                assert ingest_files(engine, settings, [audit], today, check_return_file, follow_up)[0].filed
            before = len(smtp_server.messages)
            chase(engine, settings, today)
            assert chase(engine, settings, today).emails_queued == 0  # a re-run the same day sends nothing
            send_queued(engine, settings.email)
            for message in smtp_server.messages[before:]:
                text = message["Subject"] + message.get_body(("plain",)).get_content()
                for recipient in message["To"].split(", "):
                    mentions[(today, recipient)].append(text)
        day += timedelta(days=1)

    def reminded(case_ref: str, who: str, email: str, what: str) -> set[date]:
        days = set()
        for (on, recipient), texts in mentions.items():
            if recipient != email:
                continue
            for text in texts:
                if "Overdue quality assurance work" in text:
                    continue  # the QA team's summary, counted separately
                if f"{what} of case {case_ref}" in text:
                    days.add(on)
        return days

    for what, ladder in (("self-reflection", REFLECTION_LADDER), ("audit", AUDIT_LADDER)):
        for who, email in silent_people.items():
            # One person can hold two roles (an auditor may be a service manager): expect both roles' days.
            expected = {on for on, role in ladder.items() if silent_people[role] == email}
            got = reminded(silent, who, email, what)
            assert got == expected, f"{what} of {silent} to the {who}: {sorted(got)} != {sorted(expected)}"

    # The returned case: its reflection came before any reminder, its audit after the first one.
    assert reminded(returned, "practitioner", returned_people["practitioner"], "self-reflection") == set()
    assert reminded(returned, "auditor", returned_people["auditor"], "audit") == {date(2027, 1, 6)}
    assert not any(f"of case {returned}" in t for (on, _), ts in mentions.items() if on > date(2027, 1, 7) for t in ts)

    # Nobody hears anything on a weekend or bank holiday; one email per person per day.
    assert not any(on in NO_WORK or on.weekday() >= 5 for on, _ in mentions)
    for (on, recipient), texts in mentions.items():
        reminders = [t for t in texts if "item(s) to chase" in t]
        assert len(reminders) <= 1, f"{recipient} got {len(reminders)} reminders on {on}"
    summaries = sorted(
        on for (on, _), texts in mentions.items() for t in texts if "Overdue quality assurance work" in t
    )
    assert summaries[0] == date(2027, 1, 5)  # the first working day anything was overdue
    assert len(summaries) == len(set(summaries))


def test_a_case_moved_to_another_auditor_starts_their_ladder_afresh(notified: Settings) -> None:
    from qaloop.allocation.record import MoveError, move_allocation

    engine = engine_from(notified)
    chase(engine, notified, date(2027, 1, 6))  # 3 working days before the audits are due: every auditor told
    allocation, case, staff = models.Allocation, models.CaseRecord, models.Staff
    with engine.connect() as connection:
        case_ref, auditor, team = connection.execute(
            select(case.case_ref, staff.staff_ref, case.team_id)
            .select_from(allocation)
            .join(case, case.id == allocation.case_id)
            .join(staff, staff.id == allocation.auditor_id)
            .where(allocation.status == "notified")
            .order_by(case.case_ref)
            .limit(1)
        ).one()
        candidates = connection.scalars(
            select(staff.staff_ref)
            .where(staff.role == "team_manager", staff.team_id != team, staff.staff_ref != auditor)
            .order_by(staff.staff_ref)
        ).all()
    for candidate in candidates:  # the first team manager the allocation rules accept
        try:
            move_allocation(engine, notified, "2026-09", case_ref, reason="conflict", actor="SM", to_auditor=candidate)
        except MoveError:  # a candidate the rules refuse (on leave, the worker's manager): try the next
            continue
        new_auditor = candidate
        break
    chase(engine, notified, date(2027, 1, 7))
    with engine.connect() as connection:
        reminders = connection.execute(
            select(models.EmailOutbox.recipients, models.EmailOutbox.text_body).where(
                models.EmailOutbox.key.like("%/chase/2027-01-07/%")
            )
        ).all()
        new_email = connection.scalar(select(staff.email).where(staff.staff_ref == new_auditor))
    told = [recipients for recipients, body in reminders if f"audit of case {case_ref}" in body]
    assert told == [[new_email]]  # the new auditor gets the step reached; nobody else hears of it again


def test_an_open_corrective_action_is_chased_with_its_owner_until_it_is_closed(notified: Settings) -> None:
    from qaloop.returns.follow_up import close_action

    settings = notified.model_copy(
        update={"follow_up": notified.follow_up.model_copy(update={"action_due_working_days": 5})}
    )
    engine = engine_from(settings)
    sent = sorted((settings.output_dir / "cycles" / "2026-09" / "workbooks").glob("* audit tool.xlsx"))[0]
    audit = complete_audit_workbook(
        sent, settings.returns.inbox / "ri.xlsx", grade="Requires improvement", completed_on=date(2027, 1, 4)
    )
    ingest_files(engine, settings, [audit], date(2027, 1, 4), check_return_file, follow_up)
    with engine.connect() as connection:
        action_id, due, owner = connection.execute(
            select(models.CorrectiveAction.id, models.CorrectiveAction.due_date, models.Staff.email).join(
                models.Staff, models.Staff.id == models.CorrectiveAction.owner_id
            )
        ).one()
    assert due == date(2027, 1, 11)  # five working days after Monday 4 January

    def told_on(day: date) -> list[list[str]]:
        chase(engine, settings, day)
        with engine.connect() as connection:
            rows = connection.execute(
                select(models.EmailOutbox.recipients, models.EmailOutbox.text_body).where(
                    models.EmailOutbox.key.like(f"%/chase/{day}/%")
                )
            ).all()
        return [
            recipients for recipients, body in rows if f"corrective action of case {sent.name.split(' ')[0]}" in body
        ]

    assert told_on(date(2027, 1, 6)) == [[owner]]  # 3 working days before it is due
    close_action(engine, action_id, "case put right", "TM")
    assert told_on(date(2027, 1, 11)) == []  # closed: never chased again
