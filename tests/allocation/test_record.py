"""Allocating a drawn cycle in the store and moving cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from qaloop.allocation.record import MoveError, allocate_cycle, move_allocation
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.settings import Settings
from qaloop.programmes.explain import explain_cycle
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import NEXT_CYCLE as NEXT


def rows(settings: Settings) -> list:
    a, c, worker, auditor, manager = (
        models.Allocation,
        models.CaseRecord,
        aliased(models.Staff),
        aliased(models.Staff),
        aliased(models.Staff),
    )
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(
                c.case_ref,
                a.status,
                a.stratum,
                worker.staff_ref.label("worker"),
                worker.line_manager_id.label("worker_manager_id"),
                worker.team_id.label("worker_team"),
                auditor.id.label("auditor_pk"),
                auditor.staff_ref.label("auditor"),
                auditor.team_id.label("auditor_team"),
                manager.role.label("manager_role"),
                a.audit_due,
            )
            .join(c, c.id == a.case_id)
            .join(worker, worker.id == a.practitioner_id)
            .outerjoin(auditor, auditor.id == a.auditor_id)
            .outerjoin(manager, manager.id == a.service_manager_id)
            .order_by(c.case_ref)
        ).all()


def test_every_selected_case_is_allocated_within_the_rules(drawn: Settings) -> None:
    assignments = allocate_cycle(engine_from(drawn), drawn, "2026-09")
    assert len(assignments) == 60 and all(a.auditor_id for a in assignments)
    allocated = [row for row in rows(drawn) if row.status == "allocated"]
    assert len(allocated) == 60
    for row in allocated:
        assert row.auditor != row.worker and row.auditor_pk != row.worker_manager_id
        assert row.auditor_team != row.worker_team
        assert row.manager_role == "service_manager"
        assert row.audit_due == cycle_dates(drawn.calendar, NEXT).audit_due
    assert allocate_cycle(engine_from(drawn), drawn, "2026-09") == []  # nothing left to allocate
    with engine_from(drawn).connect() as connection:
        events = connection.execute(
            select(models.AllocationEvent.to_status).where(models.AllocationEvent.actor == "qaloop allocation")
        ).all()
        status = connection.scalar(select(models.AuditCycle.status).where(models.AuditCycle.cycle_ref == "2026-09"))
    assert len(events) == 60 and status == "allocated"


def test_a_move_to_an_auditor_who_may_not_audit_the_case_is_refused(drawn: Settings) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    case = next(row for row in rows(drawn) if row.status == "allocated")
    with pytest.raises(MoveError, match="is the case's worker"):
        move_allocation(engine, drawn, "2026-09", case.case_ref, reason="r", actor="SM", to_auditor=case.worker)
    with pytest.raises(MoveError, match="a move needs a reason"):
        move_allocation(engine, drawn, "2026-09", case.case_ref, reason=" ", actor="SM", to_auditor=case.auditor)
    assert next(r for r in rows(drawn) if r.case_ref == case.case_ref).auditor == case.auditor


def test_a_move_to_another_eligible_auditor_is_recorded_with_its_reason(drawn: Settings) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    allocated = [row for row in rows(drawn) if row.status == "allocated"]
    case = allocated[0]
    other = next(r.auditor for r in allocated if r.auditor != case.auditor and r.auditor_team != case.worker_team)
    done = move_allocation(
        engine, drawn, "2026-09", case.case_ref, reason="auditor off sick", actor="E010005", to_auditor=other
    )
    assert done == f"case {case.case_ref} moved to {other}"
    assert next(r for r in rows(drawn) if r.case_ref == case.case_ref).auditor == other
    with engine.connect() as connection:
        last = connection.execute(
            select(models.AllocationEvent.actor, models.AllocationEvent.reason)
            .order_by(models.AllocationEvent.id.desc())
            .limit(1)
        ).one()
    assert last == ("E010005", f"moved to {other}: auditor off sick")


def test_a_replaced_case_gives_way_to_the_next_reserve_which_is_allocated(drawn: Settings) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    before = rows(drawn)
    with_reserves = {row.stratum for row in before if row.status == "reserve"}
    case = next(row for row in before if row.status == "allocated" and row.stratum in with_reserves)
    reserves = [row for row in before if row.status == "reserve" and row.stratum == case.stratum]
    done = move_allocation(engine, drawn, "2026-09", case.case_ref, reason="case closed", actor="SM")
    after = {row.case_ref: row for row in rows(drawn)}
    assert after[case.case_ref].status == "replaced"
    promoted = [ref for ref in (r.case_ref for r in reserves) if after[ref].status == "allocated"]
    assert len(promoted) == 1 and done.startswith(f"case {case.case_ref} replaced by reserve {promoted[0]}")
    assert explain_cycle(engine, drawn, "2026-09").identical  # the draw itself is unchanged
    with pytest.raises(MoveError, match="is replaced and can no longer be moved"):
        move_allocation(engine, drawn, "2026-09", case.case_ref, reason="again", actor="SM")
    for _ in reserves[1:]:
        target = next(r for r in rows(drawn) if r.stratum == case.stratum and r.status == "allocated")
        move_allocation(engine, drawn, "2026-09", target.case_ref, reason="closed", actor="SM")
    target = next(r for r in rows(drawn) if r.stratum == case.stratum and r.status == "allocated")
    with pytest.raises(MoveError, match=f"no reserve is left in stratum {case.stratum}"):
        move_allocation(engine, drawn, "2026-09", target.case_ref, reason="closed", actor="SM")
