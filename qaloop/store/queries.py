"""The joins every reader of allocations needs, written once: an allocation with its cycle and its case, and the
same reached from an audit return or from a moderation. A query selects its columns and starts from one of
these (``select(...).select_from(allocated_cases())``), then joins whatever else it reads (teams, staff)."""

from __future__ import annotations

from sqlalchemy.orm import join
from sqlalchemy.sql.selectable import Join

from qaloop.store import models


def allocated_cases() -> Join:
    """Allocations joined to their cycle and their case."""
    allocation, cycle, case = models.Allocation, models.AuditCycle, models.CaseRecord
    return join(allocation, cycle, cycle.id == allocation.cycle_id).join(case, case.id == allocation.case_id)


def returned_audits() -> Join:
    """Audit returns joined to their allocation, its cycle and its case."""
    audit, allocation, cycle, case = models.AuditReturn, models.Allocation, models.AuditCycle, models.CaseRecord
    return (
        join(audit, allocation, allocation.id == audit.allocation_id)
        .join(cycle, cycle.id == allocation.cycle_id)
        .join(case, case.id == allocation.case_id)
    )


def moderated_audits() -> Join:
    """Moderations joined to their audit return, its allocation, cycle and case."""
    audit, allocation, cycle, case = models.AuditReturn, models.Allocation, models.AuditCycle, models.CaseRecord
    return (
        join(models.Moderation, audit, audit.id == models.Moderation.return_id)
        .join(allocation, allocation.id == audit.allocation_id)
        .join(cycle, cycle.id == allocation.cycle_id)
        .join(case, case.id == allocation.case_id)
    )
