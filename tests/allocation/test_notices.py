"""A drawn and allocated cycle's emails through a real SMTP server: who gets what, and no names leak."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import move_allocation
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import send_queued
from qaloop.sources.readers import read_dataset
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import NEXT_CYCLE, SmtpSink
from tests.mail import assert_each_person_got_their_message, assert_no_staff_name_appears


@pytest.fixture
def allocated(allocated: Settings, smtp_server: SmtpSink) -> Settings:
    """The allocated cycle, its mail going to this test's SMTP server as fast as it takes it."""
    update = {"smtp_port": smtp_server.port, "messages_per_minute": 60_000}
    return allocated.model_copy(update={"email": allocated.email.model_copy(update=update)})


def staff_by_email(settings: Settings) -> pd.DataFrame:
    return read_dataset(settings, Dataset.STAFF).set_index("email")


def test_each_person_gets_their_message_once(allocated: Settings, smtp_server: SmtpSink) -> None:
    engine = engine_from(allocated)
    queued = notify_cycle(engine, allocated, "2026-09")
    with engine.connect() as connection:
        managers = connection.scalar(
            select(func.count(func.distinct(models.Allocation.service_manager_id))).where(
                models.Allocation.status == "notified"
            )
        )
        notified = connection.scalar(select(func.count()).where(models.Allocation.status == "notified"))
    assert notified == 60 and queued == 60 * 2 + managers
    assert notify_cycle(engine, allocated, "2026-09") == 0  # a re-run queues nothing

    send_queued(engine, allocated.email)
    assert send_queued(engine, allocated.email).sent == 0
    assert len(smtp_server.messages) == queued
    assert_each_person_got_their_message(allocated, cycle_dates(allocated.calendar, NEXT_CYCLE), smtp_server.messages)


def test_no_name_from_the_staff_list_appears_in_any_message(allocated: Settings, smtp_server: SmtpSink) -> None:
    engine = engine_from(allocated)
    notify_cycle(engine, allocated, "2026-09")
    send_queued(engine, allocated.email)
    assert_no_staff_name_appears(allocated, smtp_server.messages)


def test_a_moved_case_is_sent_to_its_new_auditor(allocated: Settings, smtp_server: SmtpSink) -> None:
    engine = engine_from(allocated)
    notify_cycle(engine, allocated, "2026-09")
    send_queued(engine, allocated.email)
    first = next(m for m in smtp_server.messages if m["Subject"].startswith("Audit allocated"))
    case_ref = first["Subject"].split("case ")[1].split(" ")[0]
    staff = staff_by_email(allocated)
    with engine.connect() as connection:
        team = connection.scalar(
            select(models.Team.name)
            .join(models.CaseRecord, models.CaseRecord.team_id == models.Team.id)
            .where(models.CaseRecord.case_ref == case_ref)
        )
    others = staff[(staff["role"] == "team_manager") & (staff["team"] != team) & (staff.index != first["To"])]
    new_auditor = others["staff_id"].iloc[0]
    move_allocation(
        engine, allocated, "2026-09", case_ref, reason="conflict of interest", actor="SM", to_auditor=new_auditor
    )
    assert notify_cycle(engine, allocated, "2026-09") >= 2  # the auditor's email and the service manager's update
    send_queued(engine, allocated.email)
    latest = [m for m in smtp_server.messages if case_ref in m["Subject"] and m["Subject"].startswith("Audit")]
    assert [m["To"] for m in latest] == [first["To"], others.index[0]]
