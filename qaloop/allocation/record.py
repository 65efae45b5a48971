"""A cycle's allocations in the store: allocate its selected cases, and move them when a service manager decides.

Every change writes the allocation's status history (who, when, why). ``allocate_cycle`` only touches cases
still waiting for an auditor, so running it again is safe; ``move_allocation`` gives a case to another
auditor (checked against the same rules) or replaces it with the next reserve of its stratum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Row, func, select, update
from sqlalchemy.orm import aliased

from qaloop.allocation.auditors import Assignment, AuditWindow, allocate, available_auditors, service_manager_for
from qaloop.core.roles import Role
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.handles import CycleError, authority_id
from qaloop.store.lifecycle import move_allocations, move_cycle, note_allocation

ACTOR = "qaloop allocation"
# An allocation may change hands until the audit comes back.
MOVABLE = ("selected", "allocated", "notified")


class MoveError(CycleError):
    """A move a service manager asked for breaks a rule; the message says which."""


def staff_frame(connection: Connection, authority: int) -> pd.DataFrame:
    """The stored staff list in canonical columns (``qaloop.schema``), people known by their staff id."""
    staff, manager, team, area = models.Staff, aliased(models.Staff), models.Team, models.Area
    rows = connection.execute(
        select(
            staff.staff_ref,
            staff.role,
            area.name,
            team.name,
            manager.staff_ref,
            staff.active,
            staff.leave_start,
            staff.leave_end,
        )
        .outerjoin(area, area.id == staff.area_id)
        .outerjoin(team, team.id == staff.team_id)
        .outerjoin(manager, manager.id == staff.line_manager_id)
        .where(staff.authority_id == authority)
    ).all()
    columns = ["staff_id", "role", "area", "team", "line_manager_id", "active", "leave_start", "leave_end"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class _Cycle:
    id: int
    seed: int
    status: str
    window: AuditWindow
    audit_due: date
    self_reflection_due: date


def _cycle(connection: Connection, authority: int, cycle_ref: str) -> _Cycle:
    cycle = models.AuditCycle
    row = connection.execute(
        select(
            cycle.id, cycle.seed, cycle.status, cycle.allocation_date, cycle.audit_due, cycle.self_reflection_due
        ).where(cycle.authority_id == authority, cycle.cycle_ref == cycle_ref)
    ).one_or_none()
    if row is None:
        raise CycleError(f"cycle {cycle_ref} is not recorded")
    window = AuditWindow(row.allocation_date, row.audit_due)
    return _Cycle(row.id, row.seed or 0, row.status, window, row.audit_due, row.self_reflection_due)


def _waiting(connection: Connection, cycle_id: int) -> pd.DataFrame:
    allocation, case, team, area, staff = models.Allocation, models.CaseRecord, models.Team, models.Area, models.Staff
    auditor = aliased(models.Staff)
    rows = connection.execute(
        select(allocation.id, case.case_ref, area.name, team.name, staff.staff_ref, auditor.staff_ref)
        .join(case, case.id == allocation.case_id)
        .join(team, team.id == case.team_id)
        .join(area, area.id == case.area_id)
        .join(staff, staff.id == allocation.practitioner_id)
        .outerjoin(auditor, auditor.id == allocation.auditor_id)
        .where(allocation.cycle_id == cycle_id, allocation.status == "selected")
    ).all()
    return pd.DataFrame(rows, columns=["allocation_id", "case_ref", "area", "team", "worker_id", "chosen_auditor"])


def _loads(connection: Connection, cycle_id: int) -> dict[str, int]:
    allocation, staff = models.Allocation, models.Staff
    return dict(
        connection.execute(
            select(staff.staff_ref, func.count())
            .join(allocation, allocation.auditor_id == staff.id)
            .where(allocation.cycle_id == cycle_id, allocation.status.in_(models.AUDITED_STATUSES))
            .group_by(staff.staff_ref)
        ).all()
    )


@dataclass(frozen=True)
class CycleAllocations:
    """Where a cycle's sample stands, whichever run did the allocating: cases with an auditor, cases waiting."""

    with_an_auditor: int
    waiting_for_an_auditor: int


def cycle_allocations(engine: Engine, settings: Settings, cycle_ref: str) -> CycleAllocations:
    """How many of the cycle's selected cases have an auditor, and how many still wait for one."""
    allocation = models.Allocation
    with engine.connect() as connection:
        cycle = _cycle(connection, authority_id(connection, settings), cycle_ref)
        counts = dict(
            connection.execute(
                select(allocation.status, func.count())
                .where(allocation.cycle_id == cycle.id, allocation.status.in_(models.AUDITED_STATUSES))
                .group_by(allocation.status)
            ).all()
        )
    waiting = counts.pop("selected", 0)
    return CycleAllocations(with_an_auditor=sum(counts.values()), waiting_for_an_auditor=waiting)


# What the approval table says of a case whose draw needed no relaxation and recorded no reason.
AT_RANDOM = "at random from its stratum, every rule kept"


def cycle_sample(engine: Engine, settings: Settings, cycle_ref: str) -> pd.DataFrame:
    """The cycle's drawn cases as the QA team approves them, one row each in stratum order: case_ref, stratum,
    worker_id (the practitioner's staff id), why_drawn (the relaxations and reasons the draw recorded, else
    that it was drawn at random under every rule), first_reserve (the case its stratum's reserves would put in
    its place, "" where none is left)."""
    allocation, case, staff = models.Allocation, models.CaseRecord, models.Staff
    with engine.connect() as connection:
        cycle = _cycle(connection, authority_id(connection, settings), cycle_ref)
        rows = connection.execute(
            select(case.case_ref, allocation.stratum, staff.staff_ref, allocation.reason, allocation.status,
                   allocation.reserve_rank)
            .join(case, case.id == allocation.case_id)
            .join(staff, staff.id == allocation.practitioner_id)
            .where(allocation.cycle_id == cycle.id, allocation.status.in_(["selected", "reserve"]))
            .order_by(allocation.stratum, allocation.reserve_rank, case.case_ref)
        ).all()  # fmt: skip
    frame = pd.DataFrame(
        [tuple(row) for row in rows], columns=["case_ref", "stratum", "worker_id", "why_drawn", "status", "rank"]
    )
    reserves = frame[frame["status"] == "reserve"].groupby("stratum")["case_ref"].first()
    drawn = frame[frame["status"] == "selected"].reset_index(drop=True)
    return drawn.assign(
        why_drawn=drawn["why_drawn"].fillna(AT_RANDOM), first_reserve=drawn["stratum"].map(reserves).fillna("")
    )[["case_ref", "stratum", "worker_id", "why_drawn", "first_reserve"]]


def allocate_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> list[Assignment]:
    """Give every selected case of ``cycle_ref`` its service manager and auditor, in one transaction.

    Cases no auditor can take stay selected, with the reason recorded, and are returned like the others.
    """
    authority = authority_id(engine, settings)
    with engine.begin() as connection:
        cycle = _cycle(connection, authority, cycle_ref)
        waiting = _waiting(connection, cycle.id)
        if waiting.empty:
            return []
        staff = staff_frame(connection, authority)
        # Cases drawn for a particular auditor (a manager's monthly audits) keep them; the rest are allocated.
        chosen = waiting[waiting["chosen_auditor"].notna()]
        by_id = staff.set_index("staff_id")
        assignments = [
            Assignment(row.case_ref, service_manager_for(row.worker_id, row.area, by_id), row.chosen_auditor,
                       "drawn for this auditor")
            for row in chosen.itertuples()
        ] + allocate(
            waiting[waiting["chosen_auditor"].isna()], staff, cycle.window, settings.selection.auditor_capacity,
            cycle.seed, _loads(connection, cycle.id),
        )  # fmt: skip
        ids = dict(
            connection.execute(
                select(models.Staff.staff_ref, models.Staff.id).where(models.Staff.authority_id == authority)
            ).all()
        )
        allocation_ids = dict(zip(waiting["case_ref"], waiting["allocation_id"], strict=True))
        for assignment in assignments:
            allocation_id = int(allocation_ids[assignment.case_ref])
            manager = ids.get(assignment.service_manager_id) if assignment.service_manager_id else None
            if assignment.auditor_id is None:  # waits for an auditor, with the reason, and is reported
                connection.execute(
                    update(models.Allocation)
                    .where(models.Allocation.id == allocation_id)
                    .values(service_manager_id=manager, reason=assignment.note or None)
                )
                continue
            move_allocations(
                connection,
                [allocation_id],
                "allocated",
                actor=ACTOR,
                why=assignment.note or None,
                reason=assignment.note or None,
                service_manager_id=manager,
                auditor_id=ids[assignment.auditor_id],
                audit_due=cycle.audit_due,
                self_reflection_due=cycle.self_reflection_due,
            )
        # Allocated even with cases waiting for an auditor: the cycle goes on, and they are reported.
        move_cycle(connection, cycle.id, "allocated")
    return assignments


def move_allocation(
    engine: Engine,
    settings: Settings,
    cycle_ref: str,
    case_ref: str,
    *,
    reason: str,
    actor: str,
    to_auditor: str | None = None,
) -> str:
    """Move one case: to ``to_auditor`` when given, else replace it with its stratum's next reserve.

    A replacement is allocated at once if the cycle has been allocated, else with the rest of the cycle.
    Returns what was done, in words. MoveError when the move breaks a rule (an auditor who may not audit
    this case, a case already returned, no reserve left); nothing changes then.
    """
    if not reason.strip():
        raise MoveError("a move needs a reason, kept with the allocation's history")
    authority = authority_id(engine, settings)
    with engine.begin() as connection:
        cycle = _cycle(connection, authority, cycle_ref)
        current = _allocation_of(connection, cycle, case_ref)
        if current is None or current.status == "reserve":
            raise MoveError(f"case {case_ref} is not selected in cycle {cycle_ref}")
        if current.status not in MOVABLE:
            raise MoveError(f"case {case_ref} is {current.status} and can no longer be moved")
        if to_auditor is not None:
            return _to_auditor(connection, authority, cycle, current, case_ref, to_auditor, reason, actor)
        reserve_ref = _replace(connection, cycle, current, case_ref, reason, actor)
    done = f"case {case_ref} replaced by reserve {reserve_ref}"
    if cycle.status == "selected":
        return f"{done}; it will be allocated with the rest of the cycle"
    # Once the cycle is allocated, the reserve is allocated at once under the same rules.
    assignment = next(a for a in allocate_cycle(engine, settings, cycle_ref) if a.case_ref == reserve_ref)
    if assignment.auditor_id is None:
        return f"{done}; it could not be allocated: {assignment.note}"
    return f"{done}, allocated to {assignment.auditor_id}"


def _allocation_of(connection: Connection, cycle: _Cycle, case_ref: str) -> Row[Any] | None:
    allocation, case = models.Allocation, models.CaseRecord
    return connection.execute(
        select(allocation.id, allocation.status, allocation.stratum, allocation.practitioner_id, case.team_id)
        .join(case, case.id == allocation.case_id)
        .where(allocation.cycle_id == cycle.id, case.case_ref == case_ref)
    ).one_or_none()


def record_substitute(
    engine: Engine, settings: Settings, cycle_ref: str, case_ref: str, staff_ref: str, *, reason: str, actor: str
) -> str:
    """Record that ``staff_ref`` may return the audit of ``case_ref`` in place of its auditor (leave, sickness).

    Returns what was done, in words. MoveError when the substitute may not audit the case.
    """
    if not reason.strip():
        raise MoveError("a substitute needs a reason, kept with the allocation's history")
    authority = authority_id(engine, settings)
    with engine.begin() as connection:
        cycle = _cycle(connection, authority, cycle_ref)
        current = _allocation_of(connection, cycle, case_ref)
        if current is None or current.status not in ("allocated", "notified"):
            raise MoveError(f"case {case_ref} has no audit awaited in cycle {cycle_ref}")
        staff = connection.execute(
            select(models.Staff.id, models.Staff.role).where(
                models.Staff.authority_id == authority, models.Staff.staff_ref == staff_ref
            )
        ).one_or_none()
        if staff is None:
            raise MoveError(f"{staff_ref} is not in the staff list")
        if not Role(staff.role).can_audit or staff.id == current.practitioner_id:
            raise MoveError(f"{staff_ref} cannot audit case {case_ref}: not an auditor, or the case's worker")
        connection.execute(
            models.Substitute.__table__.insert().values(
                allocation_id=current.id, staff_id=staff.id, reason=reason, recorded_by=actor, at=models.utcnow()
            )
        )
        note_allocation(connection, current.id, actor=actor, why=f"substitute {staff_ref}: {reason}")
    return f"{staff_ref} may return the audit of case {case_ref} in place of its auditor"


def _to_auditor(
    connection: Connection,
    authority: int,
    cycle: _Cycle,
    current: Row[Any],
    case_ref: str,
    to_auditor: str,
    reason: str,
    actor: str,
) -> str:
    staff = staff_frame(connection, authority).set_index("staff_id")
    if to_auditor not in staff.index:
        raise MoveError(f"{to_auditor} is not in the staff list")
    available = set(available_auditors(staff.reset_index(), cycle.window)["staff_id"])
    worker = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.id == current.practitioner_id))
    team = connection.scalar(select(models.Team.name).where(models.Team.id == current.team_id))
    problems = []
    if to_auditor not in available:
        problems.append("is not a senior practitioner or above who is active and not on leave until the audit is due")
    if to_auditor == worker:
        problems.append("is the case's worker")
    if staff.at[worker, "line_manager_id"] == to_auditor:
        problems.append("is the worker's line manager")
    if staff.at[to_auditor, "team"] == team:
        problems.append(f"is in the case's team ({team})")
    if problems:
        raise MoveError(f"{to_auditor} cannot audit case {case_ref}: {'; '.join(problems)}")
    auditor_id = connection.scalar(
        select(models.Staff.id).where(models.Staff.authority_id == authority, models.Staff.staff_ref == to_auditor)
    )
    # A case moved after the email went out goes back to "allocated", so the new auditor is told.
    move_allocations(
        connection, [current.id], "allocated", actor=actor, why=f"moved to {to_auditor}: {reason}",
        auditor_id=auditor_id, audit_due=cycle.audit_due, self_reflection_due=cycle.self_reflection_due,
    )  # fmt: skip
    return f"case {case_ref} moved to {to_auditor}"


def _replace(connection: Connection, cycle: _Cycle, current: Row[Any], case_ref: str, reason: str, actor: str) -> str:
    """Mark the case replaced and promote its stratum's next reserve; returns the reserve's reference."""
    allocation, case = models.Allocation, models.CaseRecord
    reserve = connection.execute(
        select(allocation.id, case.case_ref)
        .join(case, case.id == allocation.case_id)
        .where(allocation.cycle_id == cycle.id, allocation.stratum == current.stratum, allocation.status == "reserve")
        .order_by(allocation.reserve_rank)
        .limit(1)
    ).one_or_none()
    if reserve is None:
        raise MoveError(f"no reserve is left in stratum {current.stratum} to replace case {case_ref}")
    move_allocations(connection, [current.id], "replaced", actor=actor, why=reason, reason=reason)
    move_allocations(
        connection, [reserve.id], "selected", actor=actor, why=f"replaces {case_ref}: {reason}",
        reserve_rank=None, replaces_id=current.id,
    )  # fmt: skip
    return reserve.case_ref
