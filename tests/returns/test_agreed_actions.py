"""Coventry's audit tool as configuration: judgement areas judged against "good", and agreed actions (what,
by whom, by when) that become corrective actions owned by that member of staff; an action naming no one
the staff list knows, or no usable date, keeps the whole return out, with the reason."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from checks.extracts import check_and_load_extracts
from checks.returns import check_return_file
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.cycle_dates import cycle_dates, next_selection_date
from qaloop.core.settings import Settings
from qaloop.programmes.cycle_record import draw_cycle
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import AS_OF


def test_agreed_actions_become_corrective_actions_for_the_named_staff(children: Settings) -> None:
    check_and_load_extracts(children, AS_OF)
    engine = engine_from(children)
    dates = cycle_dates(children.calendar, next_selection_date(children.calendar, AS_OF))
    draw_cycle(engine, children, dates)
    allocate_cycle(engine, children, dates.cycle_ref)
    notify_cycle(engine, children, dates.cycle_ref)
    with engine.connect() as connection:
        owner, other = connection.scalars(
            select(models.Staff.staff_ref).where(models.Staff.role == "team_manager").order_by(models.Staff.staff_ref)
        ).all()[:2]
    sent = sorted((children.output_dir / "cycles" / dates.cycle_ref / "workbooks").glob("* audit tool.xlsx"))
    done_on = dates.audit_due - timedelta(days=1)
    good = complete_audit_workbook(
        sent[0], children.returns.inbox / sent[0].name, grade="does not meet good", completed_on=done_on,
        answer="does not meet good", skip=("J8", "J10", "J11"),
        actions=(("Update the child's plan with measurable outcomes", owner, done_on + timedelta(days=28)),
                 ("Hold a professionals' meeting", other, (done_on + timedelta(days=14)).strftime("%d/%m/%Y"))),
    )  # fmt: skip
    unknown = complete_audit_workbook(
        sent[1], children.returns.inbox / sent[1].name, grade="meets good", completed_on=done_on,
        answer="meets good", actions=(("Visit the child alone", "NOBODY1", done_on + timedelta(days=7)),),
    )  # fmt: skip
    outcomes = {
        o.name: o for o in ingest_files(engine, children, [good, unknown], done_on, check_return_file, follow_up)
    }

    assert outcomes[good.name].status == "processed" and len(outcomes[good.name].filed) == 1
    with engine.connect() as connection:
        actions = connection.execute(
            select(models.CorrectiveAction.description, models.Staff.staff_ref, models.CorrectiveAction.due_date)
            .join(models.Staff, models.Staff.id == models.CorrectiveAction.owner_id)
            .where(models.CorrectiveAction.reason == "agreed_action")
            .order_by(models.CorrectiveAction.id)
        ).all()
        emails = connection.scalars(
            select(models.EmailOutbox.subject).where(models.EmailOutbox.kind == "agreed_action")
        ).all()
    assert [tuple(a) for a in actions] == [
        ("Update the child's plan with measurable outcomes", owner, done_on + timedelta(days=28)),
        ("Hold a professionals' meeting", other, done_on + timedelta(days=14)),
    ]
    assert len(emails) == 2 and all(subject.startswith("Agreed action ") for subject in emails)

    rejected = outcomes[unknown.name]
    assert rejected.status == "quarantined"
    assert "an agreed action's 'by whom' is not a staff id" in rejected.problem
