"""The quarterly leadership QA report: financial quarters; the report due from its day in the month after the
quarter until it has gone; and every headline (audits, good or better, below standard, by business unit, by
quality standard from each source, surveys, compliments, complaints, escalations, actions, the p-chart over the
quarters) recomputed from the store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from checks.indicators import check_and_load_indicators
from qaloop.core.settings import Escalations, Settings
from qaloop.demo.indicators import generate_indicators, write_indicators
from qaloop.governance import escalations
from qaloop.governance.quarterly import Quarter, quarter_of, quarterly_due, quarterly_report, quarters_back
from qaloop.messaging import outbox
from qaloop.reporting.quarterly_report import quarterly_message, write_quarterly
from qaloop.store import models
from qaloop.store.engine import engine_from
from qaloop.store.queries import returned_audits

Q4 = Quarter("2026-27 Q4", date(2027, 1, 1), date(2027, 3, 31))  # the closed cycle's audits came in January


def test_quarters_are_the_financial_years() -> None:
    assert quarter_of(date(2027, 1, 20)) == Q4
    assert quarter_of(date(2026, 4, 1)) == Quarter("2026-27 Q1", date(2026, 4, 1), date(2026, 6, 30))
    assert quarter_of(date(2026, 3, 31)).label == "2025-26 Q4"
    assert quarter_of(date(2026, 12, 31)) == Quarter("2026-27 Q3", date(2026, 10, 1), date(2026, 12, 31))
    assert [q.label for q in quarters_back(Q4, 5)] == ["2025-26 Q4", "2026-27 Q1", "2026-27 Q2", "2026-27 Q3",
                                                       "2026-27 Q4"]  # fmt: skip


def _filed(settings: Settings) -> list:
    audit, case, area = models.AuditReturn, models.CaseRecord, models.Area
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(audit.id, audit.submitted_on, audit.grade, area.name.label("area"), case.audit_type)
            .select_from(returned_audits())
            .join(area, area.id == case.area_id)
            .where(audit.status == "filed")
        ).all()


def test_every_headline_is_recomputed_from_the_store(closed: Settings) -> None:
    governance = closed.governance.model_copy(update={"escalations": Escalations(to=["slt@council.example"])})
    settings = closed.model_copy(update={"governance": governance})
    engine = engine_from(settings)
    raised = escalations.raise_escalations(engine, settings, date(2027, 1, 21))
    escalations.close(engine, settings, f"ESC-{raised[0]}", _director(settings), "Reviewed with the team")
    report = quarterly_report(engine, settings, Q4)
    scale = settings.grade_scale
    filed = _filed(settings)
    quarter = [row for row in filed if Q4.start <= row.submitted_on <= Q4.end]
    good = [row for row in quarter if scale.rank(row.grade) >= scale.good_rank]
    assert (report.audits, report.good) == (len(quarter), len(good)) and report.audits > 0
    assert report.below_standard == sum(scale.below_standard(row.grade) for row in quarter)
    assert report.outstanding == sum(row.grade == "Outstanding" for row in quarter)
    for unit in report.by_unit.itertuples():
        mine = [row for row in quarter if row.area == unit.area]
        assert (unit.audits, unit.good) == (len(mine), sum(row in good for row in mine))
    # The p-chart: each quarter's good or better of its audits, the earlier quarters from the audit history.
    for point in report.chart.points:
        theirs = [row for row in filed if quarter_of(row.submitted_on).label == point.label]
        assert (point.hits, point.n) == (sum(row in good or scale.rank(row.grade) >= scale.good_rank
                                             for row in theirs), len(theirs))  # fmt: skip
    assert report.chart.points[-1].label == Q4.label and len(report.chart.points) == governance.quarters_compared
    # Each standard from its sources: S2 is the voice aspect's questions, two survey questions, two themes.
    s2 = next(s for s in report.standards if s.standard == "S2")
    with engine.connect() as connection:
        voice = connection.execute(
            select(models.AuditAnswer.answer)
            .join(models.AuditReturn, models.AuditReturn.id == models.AuditAnswer.return_id)
            .where(models.AuditReturn.status == "filed", models.AuditReturn.submitted_on.between(Q4.start, Q4.end),
                   models.AuditAnswer.question_id.in_(["V1", "V2"]))
        ).scalars().all()  # fmt: skip
        surveys = connection.execute(
            select(models.SurveyResponse.question, models.SurveyResponse.score)
            .where(models.SurveyResponse.responded_on.between(Q4.start, Q4.end))
        ).all()  # fmt: skip
        complaints = connection.execute(
            select(models.Complaint.theme, models.Complaint.outcome)
            .where(models.Complaint.received_on.between(Q4.start, Q4.end))
        ).all()  # fmt: skip
    answered = [answer for answer in voice if answer != "Not applicable"]
    assert (s2.met, s2.answered) == (sum(answer != "No" for answer in answered), len(answered)) and s2.answered
    assert (s2.chart.points[-1].hits, s2.chart.points[-1].n) == (s2.met, s2.answered)  # and on its p-chart
    # The audit history holds grades, not answers: this quarter is the standard's first, too few to read yet.
    assert [point.label for point in s2.chart.points] == [Q4.label] and s2.chart.latest == "too few"
    mine = [row for row in surveys if row.question in ("satisfaction", "listened_to")]
    assert (s2.satisfied, s2.responses) == (sum(row.score >= 4 for row in mine), len(mine))
    themed = [row for row in complaints if row.theme in ("communication", "staff attitude")]
    assert (s2.complaints, s2.upheld) == (
        len(themed),
        sum(row.outcome in ("upheld", "partly upheld") for row in themed),
    )
    assert s2.indicators == ("ASC-06: no figure stored for the whole service",)  # no KPI return loaded here
    assert (report.survey_responses, report.complaints) == (len(surveys), len(complaints))
    # The escalations raised in the quarter, with what became of them; the corrective actions.
    assert list(report.escalations["escalation"]) == [f"ESC-{i}" for i in raised]
    assert report.escalations.iloc[0]["outcome"] == "Reviewed with the team"
    with engine.connect() as connection:
        actions = connection.execute(
            select(models.CorrectiveAction.opened_at, models.CorrectiveAction.status, models.CorrectiveAction.due_date)
        ).all()
    assert report.actions["opened"] == sum(Q4.start <= a.opened_at.date() <= Q4.end for a in actions)
    # None is done yet; those due before the quarter's end are open past their due date at it.
    assert report.actions["done"] == 0
    assert report.actions["overdue"] == sum(a.status == "open" and a.due_date < Q4.end for a in actions) > 0
    # The register lists every action still open at the quarter's end, each by its case and owner.
    assert len(report.register) == sum(a.status == "open" for a in actions)
    assert set(report.register["source"]) == {"audit"} and report.register["about"].str.startswith("case ").all()
    # What must improve names the questions most often short, with their counts.
    top = report.short_questions.iloc[0]
    assert any(line.startswith(f"question {top.question}: No in {top.short_count} of") for line in report.improve())


def _director(settings: Settings) -> str:
    with engine_from(settings).connect() as connection:
        return connection.scalar(select(models.Staff.staff_ref).where(models.Staff.role == "director"))


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_report_is_due_from_its_day_after_the_quarter_until_it_has_gone(closed: Settings) -> None:
    engine = engine_from(closed)
    assert quarterly_due(engine, closed, date(2027, 4, 9)) is None  # before the 10th
    assert quarterly_due(engine, closed, date(2027, 4, 10)) is None  # a Saturday
    assert quarterly_due(engine, closed, date(2027, 4, 12)) == Q4
    assert quarterly_due(engine, closed, date(2027, 5, 12)) is None  # the month after the month after: not due
    report = quarterly_report(engine, closed, Q4)
    outbox.enqueue(engine, [quarterly_message(closed, report, write_quarterly(closed, report))])
    assert quarterly_due(engine, closed, date(2027, 4, 13)) is None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_whether_an_actions_measure_has_moved_is_read_from_its_indicators_figures(closed: Settings) -> None:
    governance = closed.governance.model_copy(update={"escalations": Escalations(to=["slt@council.example"])})
    settings = closed.model_copy(update={"governance": governance})
    engine = engine_from(settings)
    write_indicators(settings, generate_indicators(settings, date(2027, 4, 12)))
    check_and_load_indicators(settings, date(2027, 4, 12))
    raised = escalations.raise_escalations(engine, settings, date(2027, 1, 21))
    director = _director(settings)
    measured, unmeasured = (escalations.FollowUp("Speed up assessments", director, date(2027, 3, 1), "ASC-01", "OPPD"),
                            escalations.FollowUp("Talk to the team", director, date(2027, 3, 1)))  # fmt: skip
    said = escalations.close(engine, settings, f"ESC-{raised[0]}", director, "Plan agreed", measured)
    assert said.endswith(", its measure ASC-01 (OPPD)")
    escalations.close(engine, settings, f"ESC-{raised[1]}", director, "Spoken to", unmeasured)
    with engine.begin() as connection:  # as if opened on the day the escalations were closed
        connection.execute(update(models.CorrectiveAction).where(models.CorrectiveAction.source == "escalation")
                           .values(opened_at=datetime(2027, 1, 21, 10, tzinfo=UTC)))  # fmt: skip
        figures = dict(connection.execute(
            select(models.IndicatorValue.period, models.IndicatorValue.value)
            .where(models.IndicatorValue.indicator == "ASC-01", models.IndicatorValue.service_area == "OPPD")
        ).all())  # fmt: skip
    report = quarterly_report(engine, settings, Q4)
    rows = report.register[report.register["source"] == "escalation"].set_index("what")
    first, last = figures["2026-12"], figures["2027-03"]  # the month before it opened, the quarter's last
    word = "unchanged" if first == last else "better" if last > first else "worse"  # higher is better
    moved = rows.loc["Speed up assessments", "moved its measure"]
    assert moved.startswith(f"{word}: ASC-01 (Older people and physical disability) {first:,.1f}% in 2026-12, "
                            f"{last:,.1f}% in 2027-03; ")  # fmt: skip
    assert rows.loc["Speed up assessments", "measure"] == "ASC-01"
    assert rows.loc["Talk to the team", ["measure", "moved its measure"]].tolist() == ["", ""]
    assert ("1 action(s) whose measure has moved the right way since they opened" in report.strong()) == (
        word == "better"
    )
    with pytest.raises(escalations.EscalationError, match="'ASC-99' is not one of the configured indicators"):
        escalations.close(engine, settings, f"ESC-{raised[2]}", director, "Plan",
                          escalations.FollowUp("x", director, date(2027, 3, 1), "ASC-99"))  # fmt: skip
