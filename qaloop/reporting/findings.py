"""Audit findings as the reports and the triangulation read them: every filed audit of the authority with the
grade that counts (the moderated grade where the configuration says it replaces the auditor's), and the
answers to the audit-tool questions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy import and_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.queries import returned_audits

FINDING_COLUMNS = [
    "return_id", "cycle_ref", "programme", "selection_date", "case_ref", "person_ref", "audit_type", "area",
    "team", "practitioner_ref", "auditor_ref", "audit_due", "submitted_on", "auditor_grade", "moderated_grade",
    "escalation", "strengths", "learning_points", "to_reach_higher_grade",
]  # fmt: skip


def audit_findings(
    connection: Connection,
    settings: Settings,
    cycle_refs: Sequence[str] | None = None,
    submitted_between: tuple[date, date] | None = None,
) -> pd.DataFrame:
    """The authority's filed audits, of ``cycle_refs`` or submitted within ``submitted_between`` (inclusive).

    Columns: FINDING_COLUMNS, then ``grade`` (the grade that counts: the moderated grade where
    ``moderation.moderated_grade_replaces`` and a moderation was submitted, else the auditor's), ``rank``
    (0 for the worst grade), ``good`` (good or better) and ``below_standard``.
    """
    audit, allocation, cycle, case = models.AuditReturn, models.Allocation, models.AuditCycle, models.CaseRecord
    practitioner, auditor, moderation = aliased(models.Staff), aliased(models.Staff), models.Moderation
    query = (
        select(
            audit.id,
            cycle.cycle_ref,
            cycle.programme,
            cycle.selection_date,
            case.case_ref,
            case.person_ref,
            case.audit_type,
            models.Area.name,
            models.Team.name,
            practitioner.staff_ref,
            auditor.staff_ref,
            allocation.audit_due,
            audit.submitted_on,
            audit.grade,
            moderation.moderated_grade,
            audit.escalation,
            audit.strengths,
            audit.learning_points,
            audit.to_reach_higher_grade,
        )  # fmt: skip
        .select_from(returned_audits())
        .join(models.Area, models.Area.id == case.area_id)
        .join(models.Team, models.Team.id == case.team_id)
        .join(practitioner, practitioner.id == allocation.practitioner_id)
        .join(auditor, auditor.id == audit.auditor_id)
        .outerjoin(moderation, and_(moderation.return_id == audit.id, moderation.status == "submitted"))
        .where(cycle.authority_id == authority_id(connection, settings), audit.status == "filed")
        .order_by(audit.id)
    )
    if cycle_refs is not None:
        query = query.where(cycle.cycle_ref.in_(list(cycle_refs)))
    if submitted_between is not None:
        query = query.where(audit.submitted_on.between(*submitted_between))
    findings = pd.DataFrame([tuple(row) for row in connection.execute(query)], columns=FINDING_COLUMNS)
    scale = settings.grade_scale
    replaces = settings.moderation.moderated_grade_replaces
    findings["grade"] = (
        findings["moderated_grade"].fillna(findings["auditor_grade"]) if replaces else findings["auditor_grade"]
    )
    findings["rank"] = findings["grade"].map(scale.rank).astype("int64")
    findings["good"] = findings["rank"] >= scale.good_rank
    findings["below_standard"] = findings["rank"] < scale.rank(scale.standard)
    return findings


def question_answers(connection: Connection, return_ids: Sequence[int]) -> pd.DataFrame:
    """The audit-tool answers of the given returns. Columns: return_id, question_id, answer."""
    answer = models.AuditAnswer
    rows = connection.execute(
        select(answer.return_id, answer.question_id, answer.answer).where(answer.return_id.in_(list(return_ids)))
    ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=["return_id", "question_id", "answer"])
