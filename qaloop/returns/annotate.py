"""What the store says about each row of a returned file, so that the checks can judge it: whether its
allocation (or action, or moderation, or the stage of a service review) is open, whether the person returning it
may, the allocation date and the case's audit type."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.governance.review_panels import OPEN_FOR, known_reviews, stage_of
from qaloop.moderation.record import through_moderation
from qaloop.returns.reading import DATE_FORMAT, ReturnFile
from qaloop.sources.readers import checkable
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.queries import allocated_cases

OPEN_STATUSES = ("allocated", "notified", "submitted", "moderation", "moderated")


def annotate(connection: Connection, settings: Settings, returned: ReturnFile, today: date) -> pd.DataFrame:
    """The file's rows parsed for checking, with what the store says about each: whether its allocation (or
    action) is open, whether the person returning it may, the allocation date and the case's audit type."""
    frame = checkable(returned.rows, returned.dataset, DATE_FORMAT)
    frame["today"] = pd.Timestamp(today)
    if returned.dataset is Dataset.ACTION_RETURNS:
        open_actions = set(
            connection.scalars(select(models.CorrectiveAction.id).where(models.CorrectiveAction.status == "open")).all()
        )
        numbers = pd.to_numeric(frame["action_id"], errors="coerce")
        frame["action_open"] = numbers.isin(open_actions)
        return frame
    if returned.dataset is Dataset.REVIEW_RETURNS:
        return _reviews(connection, settings, frame)
    if returned.dataset is Dataset.MODERATION_RETURNS:
        known = _moderations(connection, settings, frame)
        merged = frame.merge(known, on=["cycle_ref", "case_ref"], how="left")
        merged.index = frame.index
        merged["moderation_open"] = merged["status"].isin(("allocated", "notified"))
        merged["moderator_matches"] = merged["moderator_id"] == merged["moderator"]
        return merged
    known = _allocations(connection, settings, frame)
    merged = frame.merge(known, on=["cycle_ref", "case_ref"], how="left")
    merged.index = frame.index
    merged["allocation_open"] = merged["status"].isin(OPEN_STATUSES)
    if returned.dataset is Dataset.AUDIT_RETURNS:
        merged["staff_known"] = [_known_staff(connection, settings)] * len(merged)
        merged["auditor_permitted"] = [
            isinstance(permitted, frozenset) and auditor in permitted
            for auditor, permitted in zip(merged["auditor_id"], merged["permitted_auditors"], strict=True)
        ]
    else:
        merged["practitioner_matches"] = merged["practitioner_id"] == merged["practitioner"]
    return merged


def _known_staff(connection: Connection, settings: Settings) -> frozenset[str]:
    """The staff ids an action may name as its owner."""
    return frozenset(
        connection.scalars(
            select(models.Staff.staff_ref).where(models.Staff.authority_id == authority_id(connection, settings))
        )
    )


def _reviews(connection: Connection, settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """A review's rows with their review: whether it is one qaloop sent, whether the stage the workbook files (the
    self-assessment, or the panel's record) is still open, whether it comes back with its head of service."""
    merged = frame.merge(known_reviews(connection, settings), on="review_ref", how="left")
    merged.index = frame.index
    merged["allocated_on"] = pd.to_datetime(merged["allocated_on"])
    merged["review_known"] = merged["review_id"].notna()
    merged["review_open"] = [
        status in OPEN_FOR[stage_of(record)]
        for status, record in zip(merged["review_status"], merged["panel_record"], strict=True)
    ]
    merged["head_matches"] = merged["head_of_service_id"] == merged["head_of_service"]
    merged["staff_known"] = [_known_staff(connection, settings)] * len(merged)
    return merged


def _moderations(connection: Connection, settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """Every moderation the file's rows could mean, by (cycle, case), with its moderator."""
    moderation, case, cycle = models.Moderation, models.CaseRecord, models.AuditCycle
    rows = connection.execute(
        through_moderation(
            select(
                moderation.id,
                cycle.cycle_ref,
                case.case_ref,
                moderation.status,
                cycle.audit_due,
                models.Staff.staff_ref,
            )
        )
        .outerjoin(models.Staff, models.Staff.id == moderation.moderator_id)
        .where(cycle.authority_id == authority_id(connection, settings))
        .where(case.case_ref.in_(frame["case_ref"].dropna().unique().tolist()))
    ).all()
    known = pd.DataFrame(
        [tuple(row) for row in rows],
        columns=["moderation_id", "cycle_ref", "case_ref", "status", "allocated_on", "moderator"],
    )
    known["allocated_on"] = pd.to_datetime(known["allocated_on"])
    return known


def _allocations(connection: Connection, settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """Every allocation the file's rows could mean, by (cycle, case), with who may return it."""
    allocation, case, cycle = models.Allocation, models.CaseRecord, models.AuditCycle
    auditor, practitioner = aliased(models.Staff), aliased(models.Staff)
    refs = [ref for ref in frame["case_ref"].dropna().unique()]
    rows = connection.execute(
        select(
            allocation.id.label("allocation_id"),
            cycle.cycle_ref,
            case.case_ref,
            case.audit_type,
            allocation.status,
            cycle.allocation_date.label("allocated_on"),
            auditor.staff_ref.label("auditor"),
            practitioner.staff_ref.label("practitioner"),
        )
        .select_from(allocated_cases())
        .join(practitioner, practitioner.id == allocation.practitioner_id)
        .outerjoin(auditor, auditor.id == allocation.auditor_id)
        .where(cycle.authority_id == authority_id(connection, settings), case.case_ref.in_(refs))
        .where(allocation.status != "reserve")
    ).all()
    known = pd.DataFrame(
        rows,
        columns=[
            "allocation_id", "cycle_ref", "case_ref", "audit_type", "status", "allocated_on", "auditor", "practitioner"
        ],
    )  # fmt: skip
    substitutes = connection.execute(
        select(models.Substitute.allocation_id, models.Staff.staff_ref)
        .join(models.Staff, models.Staff.id == models.Substitute.staff_id)
        .where(models.Substitute.allocation_id.in_(known["allocation_id"].tolist()))
    ).all()
    extra: dict[int, set[str]] = {}
    for allocation_id, staff_ref in substitutes:
        extra.setdefault(allocation_id, set()).add(staff_ref)
    known["permitted_auditors"] = [
        frozenset({auditor_ref} if auditor_ref else set()) | frozenset(extra.get(allocation_id, set()))
        for allocation_id, auditor_ref in zip(known["allocation_id"], known["auditor"], strict=True)
    ]
    known["allocated_on"] = pd.to_datetime(known["allocated_on"])
    return known
