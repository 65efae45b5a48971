"""The six-monthly service performance reviews as they run (Coventry 2.6-2.7): each service area's workbook sent to
its head of service ``send_working_days_before`` its panel, due back ``due_working_days_before`` it and chased until
it is in; the self-assessment filed from the drop folder, then the panel's record (the same workbook with the
panel's sheet filled in): its judgements, its action plan into the one actions register, and its key summary
points emailed to the service's staff.

A review is one row per service area and panel date (``service_review``, unique), inserted with its email in one
transaction, so a re-run, or two runs at once, sends each workbook once. Its reference (``SPR-<area>-<panel
date>``) is on the workbook's cover and files the return. A stage filed (self-assessment, panel's record) is never
filed again: the same file again is recognised by the ledger, a changed one is quarantined with the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.core.working_days import add_working_days
from qaloop.governance.indicators import GovernanceError, governance_of
from qaloop.governance.register import review_reference
from qaloop.governance.review import ReviewSheet, review_period, write_review_workbook
from qaloop.messaging import outbox
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.returns.chasing import latest_step_reached
from qaloop.returns.reading import parse_day
from qaloop.store import lifecycle, models
from qaloop.store.handles import authority_id

STAGES = {"self-assessment": "self-assessed", "panel": "panel held"}  # the stage filed, and the status it moves to
WHAT_FILED = {"self-assessment": "The head of service's self-assessment", "panel": "The panel's record"}
# The stage a return may file, by the review's status.
OPEN_FOR = {"self-assessment": ("sent",), "panel": ("sent", "self-assessed")}


@dataclass(frozen=True)
class DueReview:
    """A review whose workbook goes out now: its service area, panel, the day it is due back and its period."""

    service_area: str
    panel_on: date
    due_on: date
    period_end: date


def reviews_due(settings: Settings, today: date) -> list[DueReview]:
    """The reviews whose workbook is to go by ``today``: from ``send_working_days_before`` the panel until the day
    before it (a run missed is made good the next day)."""
    governance = governance_of(settings)
    timing = governance.reviews
    due = []
    for area_id, area in governance.service_areas.items():
        for panel_on in area.panels:
            send_on = add_working_days(panel_on, -timing.send_working_days_before)
            if send_on <= today < panel_on:
                period_end = send_on.replace(day=1) - timedelta(days=1)  # the last whole month before it goes
                due.append(DueReview(area_id, panel_on, add_working_days(panel_on, -timing.due_working_days_before),
                                     period_end))  # fmt: skip
    return sorted(due, key=lambda review: (review.panel_on, review.service_area))


@dataclass(frozen=True)
class SentReviews:
    """What a run sent: the references of the workbooks sent now, and each review it could not send, with why."""

    sent: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def send_reviews(engine: Engine, settings: Settings, today: date) -> SentReviews:
    """Send each review due whose workbook has not gone: written with its evidence, recorded and its email queued
    in one transaction. A review whose head of service is not an active member of staff is refused, named."""
    outcome = SentReviews()
    governance = governance_of(settings)
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    review = models.ServiceReview
    for due in reviews_due(settings, today):
        ref = review_reference(due.service_area, due.panel_on)
        area = governance.service_areas[due.service_area]
        with engine.connect() as connection:
            authority = authority_id(connection, settings)
            sent = connection.scalar(
                select(review.id).where(review.authority_id == authority, review.service_area == due.service_area,
                                        review.panel_on == due.panel_on)
            )  # fmt: skip
            head = connection.execute(
                select(models.Staff.id, models.Staff.email).where(
                    models.Staff.authority_id == authority, models.Staff.staff_ref == area.head_of_service,
                    models.Staff.active.is_(True))
            ).first()  # fmt: skip
        if sent is not None:
            continue
        if head is None:
            outcome.refused[ref] = (
                f"the head of service {area.head_of_service} (governance.service_areas.{due.service_area}) is not an "
                "active member of staff in the staff list: the workbook is not sent"
            )
            continue
        sheet = ReviewSheet(ref, str(area.head_of_service), due.panel_on, due.due_on)
        try:
            workbook = write_review_workbook(engine, settings, due.service_area, due.period_end, sheet)
        except GovernanceError as error:
            outcome.refused[ref] = str(error)
            continue
        period = review_period(due.period_end)
        with engine.begin() as connection:
            new_id = connection.execute(
                insert(review)
                .values(authority_id=authority, service_area=due.service_area, panel_on=due.panel_on,
                        period_start=period.start, period_end=period.end, head_of_service_id=head.id, sent_on=today,
                        due_on=due.due_on, workbook=str(workbook), status="sent")
                .on_conflict_do_nothing(index_elements=["authority_id", "service_area", "panel_on"])
                .returning(review.id)
            ).scalar()  # fmt: skip
            if new_id is None:  # another run sent it meanwhile
                continue
            outbox.enqueue(connection, [_workbook_message(settings, ref, area.name, due, period.label, head.email,
                                                          workbook)])  # fmt: skip
        outcome.sent.append(ref)
    return outcome


def _workbook_message(
    settings: Settings, ref: str, area: str, due: DueReview, period: str, to: str, workbook: Path, step: Any = None
) -> Message:
    return compose(
        settings, "service_review",
        key=("service review", ref) if step is None else ("service review", ref, "chase", step.days),
        to=[to],
        cc=[settings.qa_lead] if step is not None and step.notify == "head of service and QA lead" else [],
        subject=(f"Service performance review of {area}: workbook due back {long_date(due.due_on)} ({ref})"
                 if step is None else f"Not yet returned: the service performance review of {area} ({ref})"),
        context={"reference": ref, "service_area": area, "panel_on": long_date(due.panel_on),
                 "due_on": long_date(due.due_on), "period": period, "step": step},
        attachments=[workbook],
    )  # fmt: skip


def chase_reviews(engine: Engine, settings: Settings, today: date) -> list[Message]:
    """The reminders due ``today`` for the workbooks sent and not yet returned, until the panel: the latest step of
    the ladder each has reached, once per step (its outbox key names the step), the workbook attached again."""
    governance = governance_of(settings)
    review = models.ServiceReview
    with engine.connect() as connection:
        waiting = connection.execute(
            select(review, models.Staff.email)
            .join(models.Staff, models.Staff.id == review.head_of_service_id)
            .where(review.authority_id == authority_id(connection, settings), review.status == "sent",
                   review.panel_on > today)
        ).all()  # fmt: skip
    messages = []
    for row in waiting:
        step = latest_step_reached(row.due_on, governance.reviews.chase, today)
        if step is None or row.service_area not in governance.service_areas:
            continue
        due = DueReview(row.service_area, row.panel_on, row.due_on, row.period_end)
        messages.append(
            _workbook_message(settings, review_reference(row.service_area, row.panel_on),
                              governance.service_areas[row.service_area].name, due,
                              review_period(row.period_end).label, row.email, Path(row.workbook), step)
        )  # fmt: skip
    return messages


def known_reviews(connection: Connection, settings: Settings) -> pd.DataFrame:
    """Every review of the authority by reference, with its service area, status, head of service and the day it was
    sent."""
    review = models.ServiceReview
    rows = connection.execute(
        select(review.id, review.service_area, review.panel_on, review.status, models.Staff.staff_ref, review.sent_on)
        .join(models.Staff, models.Staff.id == review.head_of_service_id)
        .where(review.authority_id == authority_id(connection, settings))
    ).all()
    return pd.DataFrame(
        [
            (review_reference(r.service_area, r.panel_on), r.id, r.service_area, r.status, r.staff_ref, r.sent_on)
            for r in rows
        ],
        columns=["review_ref", "review_id", "service_area", "review_status", "head_of_service", "allocated_on"],
    )


def stage_of(panel_record: object) -> str:
    """The stage a returned workbook files: the panel's record when its panel sheet is filled in."""
    return "panel" if not pd.isna(panel_record) and bool(panel_record) else "self-assessment"


def file_review(
    connection: Connection,
    row: Any,
    judgements: pd.DataFrame,
    actions: pd.DataFrame,
    source_file_id: int,
    staff: dict[str, int],
) -> int | None:
    """File one checked review return: its stage's judgements, the review moved on, and (the panel's record) its
    actions into the register and its input and summary points kept. None, writing nothing, when another run
    filed that stage first."""  # fmt: skip
    stage = stage_of(row.panel_record)
    review_id = int(row.review_id)
    completed = row.completed_on.date()
    values: dict[str, Any] = {"self_assessed_on": completed} if stage == "self-assessment" else {
        "panel_recorded_on": completed, "panel_input": _blank(row.panel_input),
        "summary_points": _blank(row.summary_points)}  # fmt: skip
    if not lifecycle.move_review(connection, review_id, STAGES[stage], **values):
        return None
    connection.execute(
        models.ServiceReviewJudgement.__table__.insert(),
        [
            {"review_id": review_id, "stage": stage, "lens": j.lens, "area": j.area, "judgement": j.judgement,
             "comments": _blank(j.comments), "source_file_id": source_file_id}
            for j in judgements.itertuples()
        ],
    )  # fmt: skip
    if stage == "panel" and len(actions):
        connection.execute(
            models.CorrectiveAction.__table__.insert(),
            [
                {"source": "review", "service_review_id": review_id, "reason": "review_action",
                 "description": a.action, "owner_id": staff[str(a.by_whom).strip()], "due_date": parse_day(a.by_when),
                 "status": "open", "opened_at": models.utcnow(), "measure": _blank(a.measure),
                 "measure_area": row.service_area if not pd.isna(a.measure) else None}
                for a in actions.itertuples()
            ],
        )  # fmt: skip
    return review_id


def _blank(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def filed_messages(connection: Connection, settings: Settings, review_ids: list[int]) -> list[Message]:
    """For each review just filed: the QA team's note of what came in (its judgements and, from the panel's record,
    its actions), and the panel's key summary points to each active member of the service area's staff."""
    governance = governance_of(settings)
    review, judgement, action, owner = (models.ServiceReview, models.ServiceReviewJudgement, models.CorrectiveAction,
                                        models.Staff)  # fmt: skip
    messages = []
    for row in connection.execute(select(review).where(review.id.in_(review_ids))).all():
        stage = "panel" if row.status == "panel held" else "self-assessment"
        ref = review_reference(row.service_area, row.panel_on)
        area = governance.service_areas.get(row.service_area)
        name = area.name if area else row.service_area
        judged = Counter(connection.execute(
            select(judgement.judgement).where(judgement.review_id == row.id, judgement.stage == stage)
        ).scalars().all())  # fmt: skip
        planned = [
            {"what": a.description, "owner": a.staff_ref, "due": long_date(a.due_date)}
            for a in connection.execute(
                select(action.description, action.due_date, owner.staff_ref)
                .join(owner, owner.id == action.owner_id)
                .where(action.service_review_id == row.id).order_by(action.id)
            ).all()
        ] if stage == "panel" else []  # fmt: skip
        staff = _service_staff(connection, settings, row.authority_id, row.service_area) if row.summary_points else []
        for staff_ref, email in staff:
            messages.append(compose(
                settings, "service_review_summary", key=("service review", ref, "summary", staff_ref), to=[email],
                subject=f"The service performance review of {name}: key summary points",
                context={"service_area": name, "panel_on": long_date(row.panel_on),
                         "summary_points": row.summary_points, "actions": planned},
            ))  # fmt: skip
        messages.append(compose(
            settings, "service_review_filed", key=("service review", ref, "filed", stage),
            to=[str(address) for address in settings.email.qa_team],
            subject=f"Service performance review {ref}: {WHAT_FILED[stage].lower()} filed",
            context={"what": WHAT_FILED[stage],
                     "reference": ref, "service_area": name, "panel_on": long_date(row.panel_on),
                     "judgements": [(j, judged[j]) for j in models.REVIEW_JUDGEMENTS], "actions": planned,
                     "summary_sent": len(staff)},
        ))  # fmt: skip
    return messages


def _service_staff(
    connection: Connection, settings: Settings, authority: int, service_area: str
) -> list[tuple[str, str]]:
    """The active staff of the service area's teams (the whole service's where it names none): staff id, email."""
    area = governance_of(settings).service_areas.get(service_area)
    staff = models.Staff
    query = select(staff.staff_ref, staff.email).where(staff.authority_id == authority, staff.active.is_(True))
    if area is not None and area.teams:
        query = query.join(models.Team, models.Team.id == staff.team_id).where(models.Team.name.in_(area.teams))
    return [tuple(row) for row in connection.execute(query.order_by(staff.staff_ref)).all()]


def reviews_register(engine: Engine, settings: Settings) -> pd.DataFrame:
    """Every review with where it stands: sent, due, self-assessed, the panel's record, and its judgements."""
    review, judgement = models.ServiceReview, models.ServiceReviewJudgement
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        rows = connection.execute(
            select(review).where(review.authority_id == authority).order_by(review.panel_on, review.service_area)
        ).all()
        judged = connection.execute(
            select(judgement.review_id, judgement.stage, judgement.judgement)
            .join(review, review.id == judgement.review_id)
            .where(review.authority_id == authority)
        ).all()
    counts: dict[tuple[int, str], Counter[str]] = {}
    for review_id, stage, value in judged:
        counts.setdefault((review_id, stage), Counter())[value] += 1

    def said(review_id: int, stage: str) -> str:
        found = counts.get((review_id, stage))
        return ", ".join(f"{j} {found[j]}" for j in models.REVIEW_JUDGEMENTS if found[j]) if found else ""

    return pd.DataFrame(
        [
            {"review": review_reference(r.service_area, r.panel_on), "service area": r.service_area,
             "panel": r.panel_on, "sent": r.sent_on, "due": r.due_on, "status": r.status,
             "self-assessment": said(r.id, "self-assessment"), "panel's judgements": said(r.id, "panel")}
            for r in rows
        ],
        columns=["review", "service area", "panel", "sent", "due", "status", "self-assessment", "panel's judgements"],
    )  # fmt: skip
