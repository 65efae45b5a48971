"""Editing a test store's audit history: what a council's store looks like when a history was never loaded,
or lacks a cycle."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select

from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from


def forget_cycles(settings: Settings, selected_from: date = date.min) -> None:
    """Delete the recorded cycles selected on or after ``selected_from``, with their audits."""
    cycle, allocation = models.AuditCycle, models.Allocation
    with engine_from(settings).begin() as connection:
        cycles = select(cycle.id).where(cycle.selection_date >= selected_from).scalar_subquery()
        allocations = select(allocation.id).where(allocation.cycle_id.in_(cycles)).scalar_subquery()
        returns = select(models.AuditReturn.id).where(models.AuditReturn.allocation_id.in_(allocations))
        connection.execute(delete(models.AuditAnswer).where(models.AuditAnswer.return_id.in_(returns)))
        connection.execute(delete(models.AuditReturn).where(models.AuditReturn.allocation_id.in_(allocations)))
        connection.execute(delete(models.AllocationEvent).where(models.AllocationEvent.allocation_id.in_(allocations)))
        connection.execute(delete(allocation).where(allocation.cycle_id.in_(cycles)))
        connection.execute(delete(cycle).where(cycle.selection_date >= selected_from))
