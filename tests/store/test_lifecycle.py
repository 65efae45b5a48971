"""The lifecycle of a cycle and its allocations: one place changes a status and writes its history, and a
cycle with a case still waiting for an auditor goes on to be notified, moderated and reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from checks.returns import check_return_file
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.settings import Settings
from qaloop.moderation.record import draw_and_allocate, windows_closed
from qaloop.reporting.cycle_close import build_reports, reports_due
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from qaloop.store.handles import stored_dates
from qaloop.store.lifecycle import ALLOCATION_MOVES, CYCLE_MOVES, MODERATION_MOVES, LifecycleError, move_allocations
from tests.conftest import CYCLE


def _status(settings: Settings) -> str:
    with engine_from(settings).connect() as connection:
        return connection.scalar(select(models.AuditCycle.status).where(models.AuditCycle.cycle_ref == CYCLE))


def test_a_cycle_with_a_case_waiting_for_an_auditor_is_moderated_and_reported(drawn: Settings) -> None:
    # One audit per auditor: with more cases than auditors, some cases wait for one.
    settings = drawn.model_copy(update={"selection": drawn.selection.model_copy(update={"auditor_capacity": 1})})
    engine = engine_from(settings)
    assignments = allocate_cycle(engine, settings, CYCLE)
    waiting = [a.case_ref for a in assignments if a.auditor_id is None]
    assert waiting and len(waiting) < len(assignments)
    assert _status(settings) == "allocated"
    notify_cycle(engine, settings, CYCLE)
    assert _status(settings) == "notified"

    dates = stored_dates(engine, settings, CYCLE)
    sent = sorted((settings.output_dir / "cycles" / CYCLE / "workbooks").glob("* audit tool.xlsx"))
    returned = [
        complete_audit_workbook(path, settings.returns.inbox / path.name, grade="Good", completed_on=dates.audit_due)
        for path in sent
    ]
    ingest_files(engine, settings, returned, dates.audit_due, check_return_file, follow_up)

    after_window = dates.audit_due + timedelta(days=1)
    assert windows_closed(engine, settings, after_window) == [CYCLE]
    assert draw_and_allocate(engine, settings, CYCLE).sampled > 0
    assert _status(settings) == "moderation"

    assert reports_due(engine, settings, dates.close_date) == [CYCLE]
    build_reports(engine, settings, CYCLE, dates.close_date)
    assert _status(settings) == "closed"
    with engine.connect() as connection:
        still_waiting = connection.scalars(
            select(models.CaseRecord.case_ref)
            .join(models.Allocation, models.Allocation.case_id == models.CaseRecord.id)
            .where(models.Allocation.status == "selected", models.Allocation.auditor_id.is_(None))
        ).all()
    assert sorted(still_waiting) == sorted(waiting)  # reported as waiting, never silently dropped


def test_every_status_change_writes_its_history_and_a_change_out_of_order_writes_nothing(drawn: Settings) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, CYCLE)
    with engine.connect() as connection:
        allocated = connection.scalars(
            select(models.Allocation.id).where(models.Allocation.status == "allocated").limit(2)
        ).all()
    with engine.begin() as connection:
        moved = move_allocations(connection, allocated, "notified", actor="a test", why="told")
    assert moved == list(allocated)
    with engine.connect() as connection:
        history = connection.execute(
            select(models.AllocationEvent.from_status, models.AllocationEvent.to_status, models.AllocationEvent.reason)
            .where(models.AllocationEvent.allocation_id == allocated[0])
            .order_by(models.AllocationEvent.id)
        ).all()
    assert [tuple(row) for row in history][-2:] == [
        ("selected", "allocated", history[-2].reason),
        ("allocated", "notified", "told"),
    ]
    with pytest.raises(LifecycleError, match="cannot go from notified to moderated"), engine.begin() as connection:
        move_allocations(connection, allocated, "moderated", actor="a test")
    with engine.connect() as connection:
        statuses = connection.scalars(select(models.Allocation.status).where(models.Allocation.id.in_(allocated))).all()
    assert set(statuses) == {"notified"}


def test_the_lifecycle_knows_every_status_the_store_allows_and_no_other() -> None:
    assert set(ALLOCATION_MOVES) == set(models.ALLOCATION_STATUSES)
    assert set(CYCLE_MOVES) == set(models.CYCLE_STATUSES)
    assert set(MODERATION_MOVES) == set(models.MODERATION_STATUSES)
    reachable = {"selected", "reserve"} | {after for moves in ALLOCATION_MOVES.values() for after in moves}
    assert reachable | {"closed"} == set(models.ALLOCATION_STATUSES)  # closed: the audit history as loaded
