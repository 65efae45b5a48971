"""The handles a run passes from step to step instead of each step looking them up again: the configured
authority's id in the store, and a recorded cycle (its id, reference, programme and dates).

Everything that needs "which authority" or "which cycle" starts here; ``CycleError`` says in plain words
why a cycle cannot be found or used.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from qaloop.core.cycle_dates import CycleDates
from qaloop.core.settings import Settings
from qaloop.store import models


class CycleError(Exception):
    """A cycle cannot be recorded, found or explained; the message says which and why."""


@dataclass(frozen=True)
class CycleHandle:
    """A recorded cycle (regular, deep dive or managers' month) of the authority, as a run's steps pass it on."""

    authority_id: int
    cycle_id: int
    cycle_ref: str
    programme: str
    dates: CycleDates


def authority_id(target: Engine | Connection, settings: Settings) -> int:
    """The store's id of the configured authority; CycleError if nothing has been loaded for it."""
    with target.connect() if isinstance(target, Engine) else contextlib.nullcontext(target) as connection:
        found = connection.scalar(select(models.Authority.id).where(models.Authority.code == settings.authority.code))
    if found is None:
        raise CycleError(f"nothing is loaded for {settings.authority.code}: run `qaloop load` first")
    return found


def cycle_handle(target: Engine | Connection, settings: Settings, cycle_ref: str) -> CycleHandle:
    """The handle of ``cycle_ref``; CycleError if it is not recorded for the authority."""
    cycle = models.AuditCycle
    with target.connect() if isinstance(target, Engine) else contextlib.nullcontext(target) as connection:
        authority = authority_id(connection, settings)
        row = connection.execute(
            select(
                cycle.id,
                cycle.programme,
                cycle.selection_date,
                cycle.allocation_date,
                cycle.self_reflection_due,
                cycle.audit_due,
                cycle.moderation_due,
                cycle.close_date,
            ).where(cycle.authority_id == authority, cycle.cycle_ref == cycle_ref)
        ).first()
    if row is None:
        raise CycleError(f"cycle {cycle_ref} is not recorded for {settings.authority.code}")
    dates = CycleDates(cycle_ref, *row[2:])
    return CycleHandle(authority, row.id, cycle_ref, row.programme, dates)


def stored_dates(engine: Engine, settings: Settings, cycle_ref: str) -> CycleDates:
    """The dates recorded with ``cycle_ref``; CycleError if the cycle is not recorded."""
    return cycle_handle(engine, settings, cycle_ref).dates


def recorded_cycle(engine: Engine, settings: Settings, cycle_ref: str) -> int | None:
    """The id of ``cycle_ref`` if it is recorded, else None."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        return connection.scalar(
            select(cycle.id).where(
                cycle.authority_id == authority_id(connection, settings), cycle.cycle_ref == cycle_ref
            )
        )


def latest_cycle_ref(engine: Engine, settings: Settings) -> str:
    """The reference of the most recently selected cycle that is not closed; CycleError if there is none."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        ref = connection.scalar(
            select(cycle.cycle_ref)
            .where(cycle.authority_id == authority_id(connection, settings), cycle.status != "closed")
            .order_by(cycle.selection_date.desc())
            .limit(1)
        )
    if ref is None:
        raise CycleError("no cycle is open: draw one with `qaloop cycle draw`")
    return ref
