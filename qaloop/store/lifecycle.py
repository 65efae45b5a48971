"""The one place where an allocation's or a cycle's status changes.

An allocation (one selected case) goes selected -> allocated -> notified -> submitted -> (moderation ->
moderated); a reserve may be promoted to selected; a selected, allocated or notified case may be replaced (by
its stratum's next reserve) or moved to another auditor (back to allocated, so that the new auditor is told).
Every change, and every note kept beside a status (a substitute recorded, an escalation sent), writes a row of
the allocation's history: who, when, from what, to what, why. A change the lifecycle does not allow is a
programming error and raises ``LifecycleError``; nothing is written then.

A moderation goes sampled (no practice lead free yet) or allocated -> notified -> submitted. A corrective
action goes open -> done, with its evidence of completion. An escalation goes raised -> acknowledged -> closed
(or straight from raised to closed), with who acknowledged it and its outcome. A service performance review goes
sent -> self-assessed (the head of service's workbook filed) -> panel held (the panel's record filed), or from sent
straight to panel held.

A cycle goes selected -> allocated (allocation has run, even if some cases wait for an auditor: they are
reported, and the cycle goes on to be notified, moderated and reported) -> notified -> moderation -> closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from qaloop.store import models

# Where each allocation status may go next. A status may "go" to itself: a move to another auditor keeps an
# allocated case allocated.
ALLOCATION_MOVES: Mapping[str, frozenset[str]] = {
    "reserve": frozenset({"selected"}),
    "selected": frozenset({"allocated", "replaced"}),
    "allocated": frozenset({"allocated", "notified", "submitted", "replaced"}),
    "notified": frozenset({"allocated", "submitted", "replaced"}),
    "submitted": frozenset({"moderation", "moderated"}),
    "moderation": frozenset({"moderated"}),
    "moderated": frozenset(),
    "replaced": frozenset(),
    "closed": frozenset(),
}
CYCLE_MOVES: Mapping[str, frozenset[str]] = {
    "selected": frozenset({"allocated"}),
    "allocated": frozenset({"notified", "moderation"}),
    "notified": frozenset({"moderation", "closed"}),
    "moderation": frozenset({"closed"}),
    "closed": frozenset(),
}
MODERATION_MOVES: Mapping[str, frozenset[str]] = {
    "sampled": frozenset(),
    "allocated": frozenset({"notified", "submitted"}),
    "notified": frozenset({"submitted"}),
    "submitted": frozenset(),
}
ESCALATION_MOVES: Mapping[str, frozenset[str]] = {
    "raised": frozenset({"acknowledged", "closed"}),
    "acknowledged": frozenset({"closed"}),
    "closed": frozenset(),
}
REVIEW_MOVES: Mapping[str, frozenset[str]] = {
    "sent": frozenset({"self-assessed", "panel held"}),
    "self-assessed": frozenset({"panel held"}),
    "panel held": frozenset(),
}
# Statuses in which the audit is still awaited from the auditor.
AWAITING_AUDIT = ("allocated", "notified")


class LifecycleError(Exception):
    """A status change the lifecycle does not allow (a bug in the caller, not a user's mistake)."""


def record_allocations(connection: Connection, rows: Sequence[Mapping[str, Any]], actor: str) -> list[int]:
    """Insert new allocations (``status`` selected or reserve) with the first row of their history; returns
    their ids in the order given."""
    if not rows:
        return []
    if bad := {row["status"] for row in rows} - {"selected", "reserve"}:
        raise LifecycleError(f"a new allocation is selected or a reserve, not {sorted(bad)}")
    inserted = connection.execute(
        models.Allocation.__table__.insert().returning(models.Allocation.id, models.Allocation.status), list(rows)
    ).all()
    connection.execute(
        models.AllocationEvent.__table__.insert(),
        [{"allocation_id": i, "from_status": None, "to_status": s, "actor": actor} for i, s in inserted],
    )
    return [i for i, _ in inserted]


def move_allocations(
    connection: Connection,
    allocation_ids: Iterable[int],
    to_status: str,
    *,
    actor: str,
    why: str | None = None,
    only_from: Iterable[str] | None = None,
    **values: object,
) -> list[int]:
    """Move allocations to ``to_status``, setting ``values`` too, each with its history row (``actor`` made
    the change, ``why`` says why).

    With ``only_from``, allocations in any other status are left as they are (a return filed for a case already
    past it, or a case another run moved first); without it, every allocation must be able to make the move.
    Each row moves only from the status it was read in (the update says so), so two runs making the same move
    at once move each allocation once and write its history row once. Returns the ids moved.
    """
    ids = list(allocation_ids)
    if not ids:
        return []
    current = dict(
        connection.execute(
            select(models.Allocation.id, models.Allocation.status).where(models.Allocation.id.in_(ids))
        ).all()
    )
    if only_from is not None:
        allowed = set(only_from)
        ids = [i for i in ids if current.get(i) in allowed]
    for allocation_id in ids:
        before = current.get(allocation_id)
        if before is None or to_status not in ALLOCATION_MOVES[before]:
            raise LifecycleError(f"allocation {allocation_id} cannot go from {before} to {to_status}")
    moved: list[int] = []
    for before in sorted({current[i] for i in ids}):
        group = [i for i in ids if current[i] == before]
        moved += connection.scalars(
            update(models.Allocation)
            .where(models.Allocation.id.in_(group), models.Allocation.status == before)
            .values(status=to_status, **values)
            .returning(models.Allocation.id)
        ).all()
    if only_from is None and len(moved) < len(ids):
        lost = sorted(set(ids) - set(moved))
        raise LifecycleError(f"allocation(s) {lost} changed status while being moved to {to_status}")
    if moved:
        connection.execute(
            models.AllocationEvent.__table__.insert(),
            [
                {"allocation_id": i, "from_status": current[i], "to_status": to_status, "actor": actor, "reason": why}
                for i in moved
            ],
        )
    return moved


def note_allocation(connection: Connection, allocation_id: int, *, actor: str, why: str) -> None:
    """A row of the allocation's history that keeps its status: something done beside it, and why."""
    status = connection.scalar(select(models.Allocation.status).where(models.Allocation.id == allocation_id))
    if status is None:
        raise LifecycleError(f"allocation {allocation_id} does not exist")
    connection.execute(
        models.AllocationEvent.__table__.insert().values(
            allocation_id=allocation_id, from_status=status, to_status=status, actor=actor, reason=why
        )
    )


def move_cycle(connection: Connection, cycle_id: int, to_status: str, **values: object) -> bool:
    """Move the cycle on to ``to_status`` (setting ``values`` too) if that is a step forward from where it is;
    a cycle already there or beyond stays. Returns whether it moved."""
    status = connection.scalar(select(models.AuditCycle.status).where(models.AuditCycle.id == cycle_id))
    if status is None:
        raise LifecycleError(f"cycle {cycle_id} does not exist")
    if status == to_status or _reaches(to_status, status):
        return False
    if not _reaches(status, to_status):
        raise LifecycleError(f"cycle {cycle_id} cannot go from {status} to {to_status}")
    connection.execute(
        update(models.AuditCycle).where(models.AuditCycle.id == cycle_id).values(status=to_status, **values)
    )
    return True


def _reaches(start: str, goal: str) -> bool:
    """Whether ``goal`` lies ahead of ``start`` in the cycle's lifecycle."""
    seen, frontier = set(), [start]
    while frontier:
        for after in CYCLE_MOVES[frontier.pop()]:
            if after == goal:
                return True
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return False


def complete_action(connection: Connection, action_id: int, evidence: str) -> bool:
    """Mark an open corrective action done, with its evidence of completion; returns whether it was open."""
    done = connection.execute(
        update(models.CorrectiveAction)
        .where(models.CorrectiveAction.id == action_id, models.CorrectiveAction.status == "open")
        .values(status="done", evidence=evidence, closed_at=models.utcnow())
    )
    return done.rowcount == 1


def move_moderations(connection: Connection, moderation_ids: Iterable[int], to_status: str, **values: object) -> None:
    """Move moderations to ``to_status``, setting ``values`` too (a returned form's judgement)."""
    ids = list(moderation_ids)
    if not ids:
        return
    current = dict(
        connection.execute(
            select(models.Moderation.id, models.Moderation.status).where(models.Moderation.id.in_(ids))
        ).all()
    )
    for moderation_id in ids:
        before = current.get(moderation_id)
        if before is None or to_status not in MODERATION_MOVES[before]:
            raise LifecycleError(f"moderation {moderation_id} cannot go from {before} to {to_status}")
    connection.execute(
        update(models.Moderation).where(models.Moderation.id.in_(ids)).values(status=to_status, **values)
    )


def move_escalation(connection: Connection, escalation_id: int, to_status: str, **values: object) -> bool:
    """Move an escalation on to ``to_status`` (setting ``values`` too: who, when, the outcome); returns False,
    writing nothing, when it is already there or beyond (acknowledged twice, closed twice)."""
    return _move_on(connection, models.Escalation, ESCALATION_MOVES, "escalation", escalation_id, to_status, values)


def move_review(connection: Connection, review_id: int, to_status: str, **values: object) -> bool:
    """Move a service performance review on to ``to_status`` (setting ``values`` too: the day, the panel's input);
    returns False, writing nothing, when it is already there or beyond (a self-assessment after the panel)."""
    return _move_on(connection, models.ServiceReview, REVIEW_MOVES, "service review", review_id, to_status, values)


def _move_on(
    connection: Connection,
    table: Any,
    moves: Mapping[str, frozenset[str]],
    what: str,
    row_id: int,
    to_status: str,
    values: Mapping[str, object],
) -> bool:
    """Move one row of ``table`` on to ``to_status`` where ``moves`` allow it from its status; False when they do
    not, or another run moved it first (the update is conditional on the status read)."""
    status = connection.scalar(select(table.status).where(table.id == row_id))
    if status is None:
        raise LifecycleError(f"{what} {row_id} does not exist")
    if to_status not in moves[status]:
        return False
    moved = connection.execute(
        update(table).where(table.id == row_id, table.status == status).values(status=to_status, **values)
    )
    return moved.rowcount == 1
