"""Escalation by exception on SQLite and PostgreSQL: each configured event (an audit that escalated a concern, a
bottom grade, a corrective action long overdue, an indicator's special-cause concern, a triangulation flag, a
provider decided at level 3) raised once with its evidence and emailed once, by re-runs and two runs at once too;
chased step by step until acknowledged; acknowledged and closed by a staff id with its outcome, and the action an
outcome sets put in the one actions register and chased on the actions' ladder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from checks.indicators import check_and_load_indicators
from checks.intake import take_in
from checks.returns import check_return_file
from qaloop.core.months import last_month
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import Escalations, Settings
from qaloop.core.working_days import add_working_days
from qaloop.demo.indicators import generate_indicators, write_indicators
from qaloop.governance import escalations
from qaloop.governance.escalations import EscalationError
from qaloop.governance.register import actions_register, register_frame
from qaloop.messaging import outbox
from qaloop.providers import record
from qaloop.returns.chasing import chase
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.at_once import at_once
from tests.providers.market import with_market

TODAY = date(2027, 1, 8)  # a Friday
DONE = date(2027, 1, 6)
SLT = "senior.leadership@council.example"


def _escalating(settings: Settings, *exceptions: str) -> Settings:
    configured = Escalations(to=[SLT], exceptions=list(exceptions) or None)
    governance = settings.governance.model_copy(update={"escalations": configured})
    return settings.model_copy(update={"governance": governance})


def _returned(settings: Settings) -> tuple[str, str, str]:
    """Two audits returned: one graded at the bottom of the scale, one escalating a concern in words that name a
    member of staff. Returns the two cases and the name."""
    sent = sorted((settings.output_dir / "cycles" / "2026-09" / "workbooks").glob("* audit tool.xlsx"))
    with engine_from(settings).connect() as connection:
        someone = connection.execute(select(models.Staff.name).order_by(models.Staff.id)).scalars().first()
    bottom = complete_audit_workbook(sent[2], settings.returns.inbox / "ri.xlsx", grade="Requires improvement",
                                     completed_on=DONE)  # fmt: skip
    escalated = complete_audit_workbook(
        sent[3], settings.returns.inbox / "esc.xlsx", grade="Adequate", completed_on=DONE,
        escalation=f"No safeguarding plan; {someone} said it was in hand",
    )  # fmt: skip
    ingest_files(engine_from(settings), settings, [bottom, escalated], TODAY, check_return_file, follow_up)
    return sent[2].name.split(" ")[0], sent[3].name.split(" ")[0], someone


def _raised_mail(settings: Settings) -> list[models.EmailOutbox]:
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(models.EmailOutbox)
            .where(models.EmailOutbox.kind == "escalation_raised")
            .order_by(models.EmailOutbox.id)
        ).all()


def test_each_event_is_raised_once_with_its_evidence_and_emailed_once(notified: Settings) -> None:
    settings = _escalating(notified, "audit_escalation", "bottom_grade")
    bottom_case, escalated_case, name = _returned(settings)
    engine = engine_from(settings)
    raised = escalations.raise_escalations(engine, settings, TODAY)
    assert len(raised) == 2
    register = escalations.register(engine, settings, TODAY, TODAY)
    assert set(register["about"].str.split(" ").str[1]) == {bottom_case, escalated_case}
    mail = _raised_mail(settings)
    assert [message.recipients for message in mail] == [[SLT], [SLT]]
    escalated = next(message for message in mail if escalated_case in message.subject)
    assert escalated.subject.startswith(
        f"Escalation ESC-{raised[0]}: an audit escalated a concern: case "
    )  # first kind first
    assert "No safeguarding plan" in escalated.text_body
    assert name.split()[0] not in escalated.text_body and "[removed]" in escalated.text_body  # staff named by id only
    bottom = next(message for message in mail if bottom_case in message.subject)
    assert "Graded Requires improvement, the bottom of the scale" in bottom.text_body
    # A re-run, and two runs at once, raise and email nothing more.
    assert escalations.raise_escalations(engine, settings, TODAY) == []
    assert at_once(lambda: escalations.raise_escalations(engine, settings, TODAY)) == [[], []]
    assert len(_raised_mail(settings)) == 2


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_two_runs_at_once_raise_a_new_event_once(notified: Settings) -> None:
    settings = _escalating(notified, "audit_escalation", "bottom_grade")
    _returned(settings)
    engine = engine_from(settings)
    first, second = at_once(lambda: escalations.raise_escalations(engine, settings, TODAY))
    assert sorted(first + second) == sorted(escalations.register(engine, settings, TODAY, TODAY)["escalation"]
                                            .str.removeprefix("ESC-").astype(int))  # fmt: skip
    assert len(first + second) == 2 and len(_raised_mail(settings)) == 2


def test_an_escalation_is_chased_until_acknowledged_and_closed_with_its_outcome(notified: Settings) -> None:
    settings = _escalating(notified, "audit_escalation")
    _returned(settings)
    engine = engine_from(settings)
    [raised] = escalations.raise_escalations(engine, settings, TODAY)
    reference = f"ESC-{raised}"
    assert escalations.chase_messages(engine, settings, date(2027, 1, 11)) == []  # one working day on
    [reminder] = escalations.chase_messages(engine, settings, date(2027, 1, 12))  # two
    assert reminder.to == (SLT,) and reminder.cc == ()
    assert reminder.subject.startswith(f"Not yet acknowledged: escalation {reference}, raised Friday 8 January 2027")
    assert outbox.enqueue(engine, [reminder]) == 1
    assert outbox.enqueue(engine, escalations.chase_messages(engine, settings, date(2027, 1, 13))) == 0  # once a step
    [last] = escalations.chase_messages(engine, settings, date(2027, 1, 15))  # five: the QA lead copied in
    assert last.cc == (settings.qa_lead,)
    with engine.connect() as connection:
        director = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "director"))
    with pytest.raises(EscalationError, match="'nobody' is not a staff id in the staff list"):
        escalations.acknowledge(engine, settings, reference, "nobody")
    with pytest.raises(EscalationError, match="no escalation ESC-999"):
        escalations.acknowledge(engine, settings, "ESC-999", director)
    assert escalations.acknowledge(engine, settings, reference.lower(), director, "Service manager reviewing") == (
        f"{reference} acknowledged by {director}"
    )
    assert escalations.chase_messages(engine, settings, date(2027, 1, 15)) == []  # acknowledged: no more chasing
    with pytest.raises(EscalationError, match=f"{reference} is already acknowledged \\(by {director}\\)"):
        escalations.acknowledge(engine, settings, reference, director)
    with pytest.raises(EscalationError, match="closed with its outcome"):
        escalations.close(engine, settings, reference, director, "  ")
    escalations.close(engine, settings, reference, director, "Safeguarding plan put in place; team audited again")
    [row] = escalations.register(engine, settings, TODAY, TODAY).to_dict("records")
    assert (row["status"], row["acknowledged by"], row["outcome"]) == (
        "closed", director, "Safeguarding plan put in place; team audited again"
    )  # fmt: skip
    with pytest.raises(EscalationError, match="is already closed"):
        escalations.close(engine, settings, reference, director, "again")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_action_long_overdue_and_an_indicators_concern_are_raised_in_their_time(notified: Settings) -> None:
    settings = _escalating(notified, "action_overdue", "indicator_concern")
    _returned(settings)
    engine = engine_from(settings)
    with engine.connect() as connection:
        due = connection.scalar(select(models.CorrectiveAction.due_date).where(
            models.CorrectiveAction.reason == "below_standard"))  # fmt: skip
    overdue_on = add_working_days(due, 10)
    assert escalations.found_exceptions(engine, settings, add_working_days(overdue_on, -1)) == []
    write_indicators(settings, generate_indicators(settings, overdue_on))
    check_and_load_indicators(settings, overdue_on)
    found = escalations.found_exceptions(engine, settings, overdue_on)
    kinds = {event.kind for event in found}
    assert kinds == {"action_overdue", "indicator_concern"}
    [action] = [event for event in found if event.kind == "action_overdue"]
    assert (
        action.about.startswith("corrective action ") and "Open 10 working days past its due date" in action.evidence[0]
    )
    concerns = sorted(event.key for event in found if event.kind == "indicator_concern")
    # The demo's first indicator drifts the wrong way in the first service area (and so the whole service).
    assert f"indicator_concern:ASC-01/OPPD/{last_month(overdue_on)}" in concerns
    # Past the look-back (14 days) an overdue action is not raised: a first run raises no backlog.
    later = escalations.found_exceptions(engine, settings, add_working_days(overdue_on, 15))
    assert "action_overdue" not in {event.kind for event in later}
    # The action an indicator concern's outcome sets is measured by that indicator, for its service area.
    escalations.raise_escalations(engine, settings, overdue_on)
    register = escalations.register(engine, settings, overdue_on, overdue_on)
    [reference] = register.loc[register["about"].str.startswith("indicator ASC-01 ") & register["about"].str.contains(
        "Older people"), "escalation"]  # fmt: skip
    with engine.connect() as connection:
        manager = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "service_manager"))
    said = escalations.close(engine, settings, reference, manager, "Recovery plan",
                             escalations.FollowUp("Clear the assessment backlog", manager, overdue_on))  # fmt: skip
    assert said.endswith(", its measure ASC-01 (OPPD)")
    with engine.connect() as connection:
        assert connection.execute(
            select(models.CorrectiveAction.measure, models.CorrectiveAction.measure_area).where(
                models.CorrectiveAction.source == "escalation"
            )
        ).all() == [("ASC-01", "OPPD")]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_provider_decided_at_level_3_is_raised_once(store_settings: Settings, tmp_path: Path) -> None:
    settings = _escalating(with_market(store_settings, tmp_path), "provider_level_3")
    engine = engine_from(settings)
    upgrade(engine)
    today = date.today()  # a decision is dated when it is recorded
    take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 12, 2))
    record.propose_month(engine, settings, "2026-11", date(2026, 12, 2))
    record.decide(engine, settings, "1-1005", "2026-11", 2, "QT-0001", "Panel: level 2")
    assert escalations.raise_escalations(engine, settings, today) == []
    record.decide(engine, settings, "1-1003", "2026-11", 3, "QT-0001", "Panel: escalate to level 3")
    [raised] = escalations.raise_escalations(engine, settings, today)
    [mail] = _raised_mail(settings)
    assert mail.subject == f"Escalation ESC-{raised}: a provider moved to level 3: provider 1-1003 (2026-11)"
    assert "Decided at level 3 (major concerns) from level 1 by QT-0001: Panel: escalate to level 3" in mail.text_body
    assert escalations.raise_escalations(engine, settings, today) == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_team_where_several_sources_converge_is_raised_once_for_its_window(notified: Settings) -> None:
    settings = _escalating(notified, "triangulation_flag")
    engine = engine_from(settings)
    assert escalations.found_exceptions(engine, settings, TODAY) == []
    with engine.begin() as connection:
        team = connection.execute(select(models.Team.id, models.Team.area_id, models.Team.name)).first()
        authority = connection.scalar(select(models.Authority.id))
        for n in range(40):  # November: a run of complaints about one team, and its people unhappy in the survey
            connection.execute(
                models.Complaint.__table__.insert().values(
                    authority_id=authority,
                    complaint_ref=f"TRI-{n}",
                    received_on=date(2026, 11, 2 + n % 20),
                    area_id=team.area_id,
                    team_id=team.id,
                    theme="Communication",
                    outcome="upheld",
                )
            )
            connection.execute(models.SurveyResponse.__table__.insert().values(
                authority_id=authority, response_ref=f"TRI-{n}", survey="Annual", responded_on=date(2026, 11, 9),
                area_id=team.area_id, team_id=team.id, question="Q1", score=1))  # fmt: skip
    [flag] = [
        event for event in escalations.found_exceptions(engine, settings, TODAY) if event.about.startswith("team")
    ]
    assert flag.key == f"triangulation_flag:2026-10/team/{team.name}"
    assert flag.about == f"team {team.name} (Oct 2026 to Dec 2026)" and "complaints" in flag.evidence[0]
    raised = escalations.raise_escalations(engine, settings, TODAY)
    assert raised and escalations.raise_escalations(engine, settings, date(2027, 1, 11)) == []


def test_an_outcomes_action_joins_the_one_register_and_is_chased_on_the_actions_ladder(notified: Settings) -> None:
    settings = _escalating(notified, "audit_escalation")
    _returned(settings)
    engine = engine_from(settings)
    [raised] = escalations.raise_escalations(engine, settings, TODAY)
    with engine.connect() as connection:
        director = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "director"))
        manager = connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "service_manager"))
    due = date(2027, 2, 5)
    with pytest.raises(EscalationError, match="'E999999' is not a staff id"):
        escalations.close(engine, settings, f"ESC-{raised}", director, "Plan agreed",
                          escalations.FollowUp("Re-audit the team's safeguarding plans", "E999999", due))  # fmt: skip
    said = escalations.close(engine, settings, f"ESC-{raised}", director, "Plan agreed",
                             escalations.FollowUp("Re-audit the team's safeguarding plans", manager, due))  # fmt: skip
    assert said.endswith("by Friday 5 February 2027") and f"for {manager}" in said
    with engine.connect() as connection:
        register = register_frame(actions_register(connection, connection.scalar(select(models.Authority.id))))
    mine = register[register["source"] == "escalation"].to_dict("records")
    assert mine == [{
        "action": mine[0]["action"], "source": "escalation", "about": f"ESC-{raised}",
        "what": "Re-audit the team's safeguarding plans", "owner": manager, "opened on": date.today(), "due": due,
        "status": "open", "done on time": None, "measure": "", "moved its measure": "",
    }]  # fmt: skip
    assert set(register["source"]) == {"audit", "escalation"}  # beside the audit's own corrective action
    # Chased on the corrective actions' ladder: its owner three working days before it is due, as for any action.
    chase(engine, settings, add_working_days(due, -3))
    with engine.connect() as connection:
        reminders = connection.execute(
            select(models.EmailOutbox.recipients, models.EmailOutbox.text_body).where(
                models.EmailOutbox.kind == "reminder")
        ).all()  # fmt: skip
    owner_email = next(r for r in reminders if f"corrective action of escalation ESC-{raised}: due" in r.text_body)
    with engine.connect() as connection:
        assert owner_email.recipients == [connection.scalar(select(models.Staff.email).where(
            models.Staff.staff_ref == manager))]  # fmt: skip
