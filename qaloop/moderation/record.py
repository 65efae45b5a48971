"""Moderation in the store: drawing a cycle's sample, allocating it to practice leads, telling them, and
working out and keeping the agreement figures.

The sample's seed and rule version are kept with the cycle (``parameters["moderation"]``), with each
sampled audit's reason, so the sample can be drawn again from the same audits and shown to be the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import aliased

from qaloop.allocation.auditors import AuditWindow, available_auditors
from qaloop.allocation.record import staff_frame
from qaloop.core.outputs import file_in
from qaloop.core.roles import Role
from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.moderation.agreement import agreement_table, feedback_flags, flagged_auditors
from qaloop.moderation.sampling import RULE_VERSION, allocate_moderators, draw_moderation_sample
from qaloop.programmes.cycle_record import default_seed
from qaloop.returns.workbooks import ModerationSheet, write_moderation_workbook
from qaloop.store import models
from qaloop.store.handles import CycleError, authority_id
from qaloop.store.lifecycle import move_allocations, move_cycle, move_moderations
from qaloop.store.queries import moderated_audits, returned_audits

ACTOR = "qaloop moderation"
GROUPINGS = {"overall": [], "auditor": ["auditor_id"], "audit_type": ["audit_type"]}


def through_moderation(query: Any) -> Any:
    """``query`` read from moderations, joined to their audit, allocation, cycle and case."""
    return query.select_from(moderated_audits())


@dataclass(frozen=True)
class ModerationRound:
    """What drawing and allocating a cycle's moderation did."""

    cycle_ref: str
    submitted: int
    sampled: int
    allocated: int
    waiting: list[str]
    drawn_now: bool


def submitted_audits(connection: Connection, settings: Settings, cycle_ref: str) -> pd.DataFrame:
    """The cycle's filed audits: return id, case, audit type, auditor and their team, the case's team, grade."""
    audit, case, cycle = models.AuditReturn, models.CaseRecord, models.AuditCycle
    auditor, auditor_team, case_team = aliased(models.Staff), aliased(models.Team), aliased(models.Team)
    rows = connection.execute(
        select(
            audit.id,
            case.case_ref,
            case.audit_type,
            auditor.staff_ref,
            auditor_team.name,
            case_team.name,
            audit.grade,
        )  # fmt: skip
        .select_from(returned_audits())
        .join(case_team, case_team.id == case.team_id)
        .join(auditor, auditor.id == audit.auditor_id)
        .outerjoin(auditor_team, auditor_team.id == auditor.team_id)
        .where(cycle.authority_id == authority_id(connection, settings), cycle.cycle_ref == cycle_ref)
        .where(audit.status == "filed")
        .order_by(audit.id)
    ).all()
    columns = ["return_id", "case_ref", "audit_type", "auditor_id", "auditor_team", "case_team", "grade"]
    return pd.DataFrame([tuple(row) for row in rows], columns=columns)


def _cycle(connection: Connection, settings: Settings, cycle_ref: str) -> Any:
    row = connection.execute(
        select(models.AuditCycle.__table__).where(
            models.AuditCycle.authority_id == authority_id(connection, settings),
            models.AuditCycle.cycle_ref == cycle_ref,
        )
    ).one_or_none()
    if row is None:
        raise CycleError(f"cycle {cycle_ref} is not recorded for {settings.authority.code}")
    return row


def draw_and_allocate(engine: Engine, settings: Settings, cycle_ref: str, seed: int | None = None) -> ModerationRound:
    """Draw the cycle's moderation sample (once: a drawn sample is kept) and give each audit a practice lead."""
    with engine.begin() as connection:
        cycle = _cycle(connection, settings, cycle_ref)
        audits = submitted_audits(connection, settings, cycle_ref)
        done = connection.scalars(
            select(models.Moderation.id).join(models.AuditReturn).where(models.AuditReturn.id.in_(audits["return_id"]))
        ).all()
        if done:
            return ModerationRound(cycle_ref, len(audits), len(done), len(done), [], drawn_now=False)
        seed = default_seed(settings, f"{cycle_ref}/moderation") if seed is None else seed
        rules = settings.moderation
        sample = draw_moderation_sample(audits, rules.share, rules.oversample_weight, settings.grade_scale, seed)
        staff = staff_frame(connection, authority_id(connection, settings))
        window = AuditWindow(cycle.audit_due, cycle.moderation_due)
        leads = available_auditors(staff, window)
        leads = leads[leads["role"] == Role.PRACTICE_LEAD.value][["staff_id", "team"]]
        assignments = {a.return_id: a for a in allocate_moderators(sample, leads)}
        ids = dict(connection.execute(select(models.Staff.staff_ref, models.Staff.id)).all())
        if len(sample):
            connection.execute(
                models.Moderation.__table__.insert(),
                [
                    {
                        "return_id": int(row.return_id),
                        "moderator_id": ids.get(assignments[int(row.return_id)].moderator_id),
                        "status": "allocated" if assignments[int(row.return_id)].moderator_id else "sampled",
                        "due": cycle.moderation_due,
                        "reason": row.reason,
                    }
                    for row in sample.itertuples(index=False)
                ],
            )
        parameters = dict(cycle.parameters or {})
        parameters["moderation"] = {
            "seed": seed,
            "rule_version": RULE_VERSION,
            "share": rules.share,
            "oversample_weight": rules.oversample_weight,
            "submitted": len(audits),
            "return_ids": [int(i) for i in audits["return_id"]],
        }
        chosen = connection.scalars(
            select(models.AuditReturn.allocation_id).where(
                models.AuditReturn.id.in_([int(i) for i in sample["return_id"]])
            )
        ).all()
        move_allocations(connection, chosen, "moderation", actor=ACTOR, only_from=("submitted",))
        move_cycle(connection, cycle.id, "moderation", parameters=parameters)
    waiting = [str(return_id) for return_id, a in assignments.items() if a.moderator_id is None]
    return ModerationRound(cycle_ref, len(audits), len(sample), len(sample) - len(waiting), waiting, drawn_now=True)


@dataclass(frozen=True)
class ModerationExplanation:
    """A cycle's moderation sample drawn again from its recorded inputs, beside the sample on record."""

    identical: bool
    differences: list[str]
    sample: pd.DataFrame


def explain_moderation(engine: Engine, settings: Settings, cycle_ref: str) -> ModerationExplanation:
    """Draw the cycle's moderation sample again from the audits it was drawn from, with the recorded seed and
    rules, and compare it with the sample on record; each audit keeps the reason it was drawn."""
    with engine.connect() as connection:
        cycle = _cycle(connection, settings, cycle_ref)
        recorded = (cycle.parameters or {}).get("moderation")
        if not recorded:
            raise CycleError(f"cycle {cycle_ref} has no moderation sample yet")
        audits = submitted_audits(connection, settings, cycle_ref)
        on_record = dict(
            connection.execute(
                through_moderation(select(models.Moderation.return_id, models.Moderation.reason)).where(
                    models.AuditCycle.id == cycle.id
                )
            ).all()
        )
    audits = audits[audits["return_id"].isin(recorded["return_ids"])]
    again = draw_moderation_sample(
        audits, recorded["share"], recorded["oversample_weight"], settings.grade_scale, recorded["seed"]
    )
    drawn = dict(zip(again["return_id"].astype(int), again["reason"], strict=True))
    differences = [
        f"audit {return_id}: on record {on_record.get(return_id, 'not drawn')!r}, "
        f"drawn again {drawn.get(return_id, 'not drawn')!r}"
        for return_id in sorted(set(drawn) | set(on_record))
        if drawn.get(return_id) != on_record.get(return_id)
    ]
    if recorded["rule_version"] != RULE_VERSION:
        differences.insert(0, f"drawn under {recorded['rule_version']}, explained under {RULE_VERSION}")
    return ModerationExplanation(not differences, differences, again)


def moderation_sample(connection: Connection, settings: Settings, cycle_ref: str) -> pd.DataFrame:
    """The cycle's moderation sample as drawn: case, audit type, auditor, grade, why drawn, moderator, status."""
    moderation, audit, case, cycle = models.Moderation, models.AuditReturn, models.CaseRecord, models.AuditCycle
    auditor, moderator = aliased(models.Staff), aliased(models.Staff)
    rows = connection.execute(
        through_moderation(
            select(
                case.case_ref,
                case.audit_type,
                auditor.staff_ref,
                audit.grade,
                moderation.reason,
                moderator.staff_ref,
                moderation.status,
            )
        )
        .join(auditor, auditor.id == audit.auditor_id)
        .outerjoin(moderator, moderator.id == moderation.moderator_id)
        .where(cycle.authority_id == authority_id(connection, settings), cycle.cycle_ref == cycle_ref)
        .order_by(case.case_ref)
    ).all()
    columns = ["case_ref", "audit_type", "auditor", "grade", "why drawn", "moderator", "status"]
    return pd.DataFrame([tuple(row) for row in rows], columns=columns)


def _allocated_moderations(connection: Connection, settings: Settings, cycle_ref: str) -> list[Any]:
    """The cycle's moderations given to a practice lead and not yet sent, with the audit each re-judges."""
    moderation, audit, case, cycle = models.Moderation, models.AuditReturn, models.CaseRecord, models.AuditCycle
    moderator, auditor = aliased(models.Staff), aliased(models.Staff)
    return connection.execute(
        through_moderation(
            select(
                moderation.id,
                moderation.due,
                audit.id.label("return_id"),
                audit.grade,
                audit.strengths,
                audit.learning_points,
                audit.to_reach_higher_grade,
                case.case_ref,
                case.audit_type,
                moderator.staff_ref.label("moderator"),
                moderator.email,
                auditor.staff_ref.label("auditor"),
            )
        )
        .join(moderator, moderator.id == moderation.moderator_id)
        .join(auditor, auditor.id == audit.auditor_id)
        .where(cycle.cycle_ref == cycle_ref, cycle.authority_id == authority_id(connection, settings))
        .where(moderation.status == "allocated")
        .order_by(case.case_ref)
    ).all()


def _moderation_form(connection: Connection, settings: Settings, cycle_ref: str, row: Any) -> Path:
    """The practice lead's form for one moderation, pre-filled with the audit's answers and feedback."""
    texts = {question.id: question.text for question in settings.tool_for(row.audit_type).questions}
    answers = connection.execute(
        select(models.AuditAnswer.question_id, models.AuditAnswer.answer).where(
            models.AuditAnswer.return_id == row.return_id
        )
    ).all()
    sheet = ModerationSheet(
        case_ref=row.case_ref,
        audit_type_label=settings.audit_type(row.audit_type).label,
        cycle_ref=cycle_ref,
        auditor_ref=row.auditor,
        moderator_ref=row.moderator,
        due=row.due,
        grade=row.grade,
        answers=tuple((q, texts.get(q, q), a) for q, a in answers),
        feedback=(
            ("Strengths", row.strengths),
            ("Learning points", row.learning_points),
            ("What would have earned a higher grade", row.to_reach_higher_grade),
        ),
    )
    folder = settings.output_dir / "cycles" / cycle_ref / "moderation"
    return write_moderation_workbook(
        file_in(folder, f"{row.case_ref} {row.moderator} moderation", ".xlsx"), sheet, settings.grade_scale
    )


def _moderation_message(settings: Settings, cycle_ref: str, row: Any, form: Path) -> Message:
    label = settings.audit_type(row.audit_type).label
    return compose(
        settings,
        "moderation",
        key=(cycle_ref, "moderation", row.case_ref, row.moderator),
        to=[row.email],
        subject=f"Moderation: case {row.case_ref} ({label}), due {long_date(row.due)}",
        context={"cycle_ref": cycle_ref, "case_ref": row.case_ref, "audit_type": label, "due": long_date(row.due)},
        attachments=[form],
    )


def moderation_messages(engine: Engine, settings: Settings, cycle_ref: str) -> int:
    """Queue each allocated moderation's email with its pre-filled form; mark them notified. Returns how many."""
    with engine.begin() as connection:
        rows = _allocated_moderations(connection, settings, cycle_ref)
        messages = [
            _moderation_message(settings, cycle_ref, row, _moderation_form(connection, settings, cycle_ref, row))
            for row in rows
        ]
        queued = enqueue(connection, messages)
        if rows:
            move_moderations(connection, [r.id for r in rows], "notified")
    return queued


def moderated_pairs(connection: Connection, settings: Settings, cycle_refs: list[str]) -> pd.DataFrame:
    """Each moderated audit of ``cycle_refs``: its auditor, audit type, both grades as ranks, feedback ratings."""
    moderation, audit, case, cycle = models.Moderation, models.AuditReturn, models.CaseRecord, models.AuditCycle
    auditor = aliased(models.Staff)
    rows = connection.execute(
        through_moderation(
            select(
                cycle.cycle_ref,
                auditor.staff_ref,
                case.audit_type,
                audit.grade,
                moderation.moderated_grade,
                moderation.feedback_constructive,
                moderation.names_strengths,
                moderation.names_learning,
            )
        )
        .join(auditor, auditor.id == audit.auditor_id)
        .where(cycle.authority_id == authority_id(connection, settings), cycle.cycle_ref.in_(cycle_refs))
        .where(moderation.status == "submitted")
    ).all()
    columns = [
        "cycle_ref", "auditor_id", "audit_type", "grade", "moderated_grade", "feedback_constructive",
        "names_strengths", "names_learning",
    ]  # fmt: skip
    pairs = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    scale = settings.grade_scale
    pairs["auditor_rank"] = pairs["grade"].map(scale.rank)
    pairs["moderator_rank"] = pairs["moderated_grade"].map(scale.rank)
    return pairs


def record_agreement(engine: Engine, settings: Settings, cycle_ref: str) -> dict[str, pd.DataFrame]:
    """Work out the cycle's agreement figures (and those of every cycle to date), keep them for the cycle
    report in place of any earlier ones, and return the tables, with the auditors flagged to the QA team."""
    levels = len(settings.grade_scale.labels)
    with engine.begin() as connection:
        cycle = _cycle(connection, settings, cycle_ref)
        to_date = connection.scalars(
            select(models.AuditCycle.cycle_ref).where(
                models.AuditCycle.authority_id == cycle.authority_id,
                models.AuditCycle.selection_date <= cycle.selection_date,
            )
        ).all()
        tables: dict[str, pd.DataFrame] = {}
        rows = []
        for scope, refs in (("", [cycle_ref]), ("to date: ", list(to_date))):
            pairs = moderated_pairs(connection, settings, refs)
            if pairs.empty:
                continue
            for grouping, by in GROUPINGS.items():
                table = agreement_table(pairs, by, levels, seed=cycle.id, minimum=settings.moderation.kappa_min_audits)
                quality = _feedback_quality(pairs, by)
                table = table.merge(quality, on=by, how="left") if by else table.assign(**quality.iloc[0].to_dict())
                tables[scope + grouping] = table
                for record in table.to_dict("records"):
                    rows.append(
                        {
                            "cycle_id": cycle.id,
                            "grouping": scope + grouping,
                            "group_value": "all" if not by else str(record[by[0]]),
                            **{k: _value(record[k]) for k in _FIGURES},
                            "computed_at": models.utcnow(),
                        }
                    )
            if not scope:
                rules = settings.moderation
                tables["flagged"] = flagged_auditors(pairs, rules.flag_threshold, rules.flag_min_audits)
                tables["feedback-flagged"] = feedback_flags(pairs, rules.flag_feedback_below, rules.flag_min_audits)
        connection.execute(delete(models.AgreementFigure).where(models.AgreementFigure.cycle_id == cycle.id))
        if rows:
            connection.execute(models.AgreementFigure.__table__.insert(), rows)
    return tables


_FIGURES = (
    "audits", "exact", "within_one", "kappa", "kappa_low", "kappa_high", "auditor_higher", "auditor_lower",
    "feedback_constructive", "names_strengths_and_learning",
)  # fmt: skip


def _value(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def _feedback_quality(pairs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    rated = pairs.assign(
        feedback_constructive=pairs["feedback_constructive"].astype(float),
        names_strengths_and_learning=(pairs["names_strengths"] & pairs["names_learning"]).astype(float),
    )
    columns = ["feedback_constructive", "names_strengths_and_learning"]
    if not by:
        return rated[columns].mean().to_frame().T
    return rated.groupby(by)[columns].mean().reset_index()


def windows_closed(engine: Engine, settings: Settings, today: date) -> list[str]:
    """The cycles (and deep dives) whose audit window has closed by ``today`` and whose moderation is still to
    be drawn."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(cycle.cycle_ref)
                .where(cycle.authority_id == authority_id(connection, settings))
                .where(cycle.audit_due < today, cycle.status.in_(("allocated", "notified")))
                .order_by(cycle.selection_date)
            )
        )


def in_moderation(engine: Engine, settings: Settings) -> list[str]:
    """The cycles being moderated."""
    cycle = models.AuditCycle
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(cycle.cycle_ref).where(
                    cycle.authority_id == authority_id(connection, settings), cycle.status == "moderation"
                )
            )
        )
