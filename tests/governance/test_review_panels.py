"""The six-monthly service performance review as it runs, on SQLite and PostgreSQL: the workbook sent to the head
of service once, on the configured working day before the panel (by re-runs and two runs at once too), chased from
its due day until it is returned; the self-assessment and then the panel's record read back through the drop folder
and filed once; a judgement off Coventry's scale or an action without an owner quarantined with the reason; the
panel's actions in the one actions register, chased on the actions' ladder, and its key summary points emailed to
each member of the service area's staff."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from checks.returns import check_return_file
from qaloop.core.settings import Settings
from qaloop.core.working_days import add_working_days
from qaloop.governance import review_panels
from qaloop.governance.register import actions_register, register_frame
from qaloop.governance.review import REFERENCE_LABEL, complete_review_workbook
from qaloop.returns.chasing import open_items
from qaloop.returns.filing import FileOutcome, ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.at_once import at_once

PANEL = date(2027, 3, 18)  # a Thursday; the closed cycle's audits came in in January, within the review's period
SEND_ON = add_working_days(PANEL, -15)
DUE_ON = add_working_days(PANEL, -5)
REFERENCE = f"SPR-OPPD-{PANEL.isoformat()}"


def _reviewing(settings: Settings, head: str = "E010005") -> Settings:
    areas = dict(settings.governance.service_areas)
    areas["OPPD"] = areas["OPPD"].model_copy(update={"head_of_service": head, "panels": [PANEL]})
    governance = settings.governance.model_copy(update={"service_areas": areas})
    return settings.model_copy(update={"governance": governance})


def _outbox(settings: Settings, kind: str) -> list[models.EmailOutbox]:
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(models.EmailOutbox).where(models.EmailOutbox.kind == kind).order_by(models.EmailOutbox.id)
        ).all()


def _review(settings: Settings) -> models.ServiceReview:
    with engine_from(settings).connect() as connection:
        return connection.execute(select(models.ServiceReview)).one()


def _sent(settings: Settings) -> Path:
    review_panels.send_reviews(engine_from(settings), settings, SEND_ON)
    return Path(_review(settings).workbook)


def _return(settings: Settings, workbook: Path, today: date = DUE_ON) -> FileOutcome:
    [outcome] = ingest_files(engine_from(settings), settings, [workbook], today, check_return_file, follow_up)
    return outcome


def test_the_workbook_goes_once_to_the_head_of_service_on_its_day(closed: Settings) -> None:
    settings = _reviewing(closed)
    engine = engine_from(settings)
    before = add_working_days(SEND_ON, -1)
    assert review_panels.send_reviews(engine, settings, before).sent == []
    outcomes = at_once(lambda: review_panels.send_reviews(engine, settings, SEND_ON))
    assert sorted(ref for outcome in outcomes for ref in outcome.sent) == [REFERENCE]
    assert review_panels.send_reviews(engine, settings, add_working_days(SEND_ON, 1)).sent == []
    [message] = _outbox(settings, "service_review")
    with engine.connect() as connection:
        head = connection.execute(select(models.Staff).where(models.Staff.staff_ref == "E010005")).one()
    assert message.recipients == [head.email]
    assert REFERENCE in message.subject and head.name not in message.text_body
    review = _review(settings)
    assert (review.status, review.sent_on, review.due_on) == ("sent", SEND_ON, DUE_ON)
    assert message.attachments == [review.workbook]
    cover = {row[0]: row[1] for row in load_workbook(review.workbook)["Service area"].iter_rows(values_only=True)}
    assert cover[REFERENCE_LABEL] == REFERENCE
    assert cover["Head of service (staff id)"] == "E010005"
    assert cover["Performance period being considered"] == "August 2026 to January 2027"
    assert cover["Date of review panel"].date() == PANEL


def test_a_head_of_service_not_in_the_staff_list_is_refused_by_name(closed: Settings) -> None:
    settings = _reviewing(closed, head="E999999")
    sent = review_panels.send_reviews(engine_from(settings), settings, SEND_ON)
    assert sent.sent == []
    assert "the head of service E999999 (governance.service_areas.OPPD) is not an active member" in sent.refused[
        REFERENCE]  # fmt: skip
    assert _outbox(settings, "service_review") == []


def test_the_workbook_is_chased_from_its_due_day_until_it_is_returned(closed: Settings) -> None:
    settings = _reviewing(closed)
    engine = engine_from(settings)
    workbook = _sent(settings)
    assert review_panels.chase_reviews(engine, settings, add_working_days(DUE_ON, -1)) == []
    [on_the_day] = review_panels.chase_reviews(engine, settings, DUE_ON)
    assert on_the_day.cc == () and "Not yet returned" in on_the_day.subject
    [later] = review_panels.chase_reviews(engine, settings, add_working_days(DUE_ON, 2))
    assert later.cc == (settings.qa_lead,) and later.key != on_the_day.key
    assert later.attachments == (workbook,)
    returned = complete_review_workbook(workbook, settings.returns.inbox / "review.xlsx", completed_on=DUE_ON)
    assert _return(settings, returned).status == "processed"
    assert review_panels.chase_reviews(engine, settings, add_working_days(DUE_ON, 3)) == []


def test_the_self_assessment_is_filed_once_with_its_judgements(closed: Settings) -> None:
    settings = _reviewing(closed)
    workbook = _sent(settings)
    returned = complete_review_workbook(
        workbook, settings.returns.inbox / "OPPD review.xlsx", completed_on=DUE_ON, judgement="G",
        judgements={"Capacity to improve": "RI", "Provider performance / issues": "O"},
    )  # fmt: skip
    copy = settings.returns.inbox / "OPPD review again.xlsx"
    copy.write_bytes(returned.read_bytes())
    outcome = _return(settings, returned)
    assert (outcome.status, outcome.filed) == ("processed", [REFERENCE])
    review = _review(settings)
    assert (review.status, review.self_assessed_on) == ("self-assessed", DUE_ON)
    with engine_from(settings).connect() as connection:
        judged = connection.execute(
            select(models.ServiceReviewJudgement.lens, models.ServiceReviewJudgement.area,
                   models.ServiceReviewJudgement.judgement, models.ServiceReviewJudgement.stage)
        ).all()  # fmt: skip
    assert len(judged) == 4 + 5 + 6 + 7 and {stage for *_, stage in judged} == {"self-assessment"}
    assert sum(judgement == "RI" for _, _, judgement, _ in judged) == 4  # each lens's capacity to improve
    assert ("provider", "Provider performance / issues", "O", "self-assessment") in judged
    [note] = _outbox(settings, "service_review_filed")
    assert "I 0, RI 4, G 17, O 1" in note.text_body
    assert note.recipients == [str(address) for address in settings.email.qa_team]
    assert _return(settings, copy).status == "already processed"
    assert len(_outbox(settings, "service_review_filed")) == 1


def test_a_judgement_off_the_scale_is_quarantined_with_the_reason(closed: Settings) -> None:
    settings = _reviewing(closed)
    returned = complete_review_workbook(
        _sent(settings), settings.returns.inbox / "review.xlsx", completed_on=DUE_ON,
        judgements={"Placement sufficiency": "Good"},
    )  # fmt: skip
    outcome = _return(settings, returned)
    assert outcome.status == "quarantined"
    # Only the judgement at fault is named, not every judgement area of the workbook.
    assert outcome.problem == f"{REFERENCE}: a judgement is not one of I, RI, G, O (Placement sufficiency: Good)"
    assert (outcome.moved_to.parent.parent, _review(settings).status) == (settings.returns.quarantine, "sent")
    assert "Placement sufficiency: Good" in outcome.moved_to.with_name(outcome.moved_to.name + ".why.txt").read_text()
    with engine_from(settings).connect() as connection:
        assert connection.execute(select(models.ServiceReviewJudgement)).all() == []
    [told] = _outbox(settings, "returns_problem")
    assert "a judgement is not one of I, RI, G, O" in told.text_body


def test_an_action_without_an_owner_is_quarantined_with_the_reason(closed: Settings) -> None:
    settings = _reviewing(closed)
    returned = complete_review_workbook(
        _sent(settings), settings.returns.inbox / "review.xlsx", completed_on=DUE_ON,
        actions={"Workloads / staffing / caseloads": ("Recruit two social workers", None, date(2027, 6, 30))},
    )  # fmt: skip
    outcome = _return(settings, returned)
    assert outcome.status == "quarantined"
    assert "an agreed action's 'by whom' is not a staff id" in outcome.problem and "(blank)" in outcome.problem
    assert _review(settings).status == "sent"


def test_an_actions_measure_not_a_configured_indicator_is_quarantined(closed: Settings) -> None:
    settings = _reviewing(closed)
    returned = complete_review_workbook(
        _sent(settings), settings.returns.inbox / "review.xlsx", completed_on=DUE_ON, panel_input="Challenged.",
        panel_actions=(("Cut waiting times", "E010005", date(2027, 6, 30), "waiting list"),),
    )  # fmt: skip
    outcome = _return(settings, returned)
    assert outcome.status == "quarantined"
    assert "an action's measure is not one of the configured indicators (waiting list)" in outcome.problem


def test_a_changed_self_assessment_after_one_is_filed_is_refused(closed: Settings) -> None:
    settings = _reviewing(closed)
    workbook = _sent(settings)
    first = complete_review_workbook(workbook, settings.returns.inbox / "review.xlsx", completed_on=DUE_ON)
    assert _return(settings, first).status == "processed"
    changed = complete_review_workbook(workbook, settings.returns.inbox / "review v2.xlsx", completed_on=DUE_ON,
                                       judgement="O")  # fmt: skip
    outcome = _return(settings, changed)
    assert outcome.status == "quarantined" and "this stage of the review is already filed" in outcome.problem


def test_the_panels_record_puts_its_actions_in_the_register_and_its_summary_to_the_staff(closed: Settings) -> None:
    settings = _reviewing(closed)
    workbook = _sent(settings)
    assert _return(settings, complete_review_workbook(workbook, settings.returns.inbox / "self.xlsx",
                                                      completed_on=DUE_ON)).status == "processed"  # fmt: skip
    after = add_working_days(PANEL, 1)
    panel = complete_review_workbook(
        workbook, settings.returns.inbox / "panel.xlsx", completed_on=PANEL, judgement="G",
        judgements={"Workloads / staffing / caseloads": "RI"},
        actions={"Workloads / staffing / caseloads": ("Recruit two social workers", "E010005", date(2027, 6, 30))},
        summary_points="Assessments are timely; caseloads in hospital discharge are too high.",
        panel_input="The panel challenged the hospital discharge waits.",
        panel_actions=(("Review discharge pathway with health", "E010006", date(2027, 5, 28), "ASC-01"),),
    )  # fmt: skip
    outcome = _return(settings, panel, after)
    assert (outcome.status, outcome.filed) == ("processed", [REFERENCE])
    review = _review(settings)
    assert (review.status, review.panel_recorded_on) == ("panel held", PANEL)
    assert review.panel_input == "The panel challenged the hospital discharge waits."
    engine = engine_from(settings)
    with engine.connect() as connection:
        stages = connection.execute(
            select(models.ServiceReviewJudgement.stage, models.ServiceReviewJudgement.judgement)
        ).all()
        register = register_frame(actions_register(connection, review.authority_id))
        owed = open_items(connection, settings)
        staff = connection.execute(
            select(models.Staff.email)
            .join(models.Team, models.Team.id == models.Staff.team_id)
            .where(models.Team.name.in_(settings.governance.service_areas["OPPD"].teams), models.Staff.active.is_(True))
        ).scalars().all()  # fmt: skip
    assert sum(stage == "panel" for stage, _ in stages) == 22
    assert sum(stage == "panel" and judgement == "RI" for stage, judgement in stages) == 1
    planned = register[register["source"] == "review"]
    assert sorted(planned["what"]) == ["Review discharge pathway with health",
                                       "Workloads / staffing / caseloads: Recruit two social workers"]  # fmt: skip
    assert set(planned["about"]) == {f"service review {REFERENCE}"}
    assert set(planned["owner"]) == {"E010005", "E010006"} and set(planned["status"]) == {"open"}
    measures = dict(zip(planned["what"], planned["measure"], strict=True))
    assert measures["Review discharge pathway with health"] == "ASC-01"
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(models.CorrectiveAction.measure_area).where(models.CorrectiveAction.measure == "ASC-01")
            ).scalar_one()
            == "OPPD"
        )
    chased = owed[owed["case_ref"] == REFERENCE]
    assert len(chased) == 2 and set(chased["kind"]) == {"corrective_action"}
    summaries = _outbox(settings, "service_review_summary")
    assert sorted(address for message in summaries for address in message.recipients) == sorted(staff)
    assert staff and all("caseloads in hospital discharge are too high" in m.text_body for m in summaries)
    assert "Review discharge pathway with health" in summaries[0].text_body
    again = settings.returns.inbox / "panel again.xlsx"
    complete_review_workbook(workbook, again, completed_on=PANEL, panel_input="A second record")
    assert "this stage of the review is already filed" in _return(settings, again, after).problem


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_workbook_for_a_review_never_sent_is_quarantined(closed: Settings) -> None:
    settings = _reviewing(closed)
    workbook = _sent(settings)
    book = load_workbook(workbook)
    for row in book["Service area"].iter_rows():
        if row[0].value == REFERENCE_LABEL:
            row[1].value = "SPR-OPPD-2031-01-01"
    stray = settings.returns.inbox / "stray.xlsx"
    book.save(workbook.with_name("edited.xlsx"))
    complete_review_workbook(workbook.with_name("edited.xlsx"), stray, completed_on=DUE_ON)
    outcome = _return(settings, stray)
    assert outcome.status == "quarantined" and "review_ref is not a service review qaloop sent" in outcome.problem
