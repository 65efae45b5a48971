"""The chase-deadlines flow: every working morning, remind people of work coming due, escalate late work up
the ladder, and send the QA team one summary of what is overdue."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.chase import queue_reminders
from tasks.notify import send_emails


class ChaseSummary(BaseModel):
    """What the run did."""

    day: date
    reminders: int
    emails_queued: int
    emails_sent: int
    overdue_items: int


@flow(
    name="chase-deadlines",
    flow_run_name=dated_run_name("chase"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def chase_deadlines(config: str | None = None, today: date | None = None) -> ChaseSummary:
    """Chase the day's work in working days; on a weekend or bank holiday nobody is chased.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    if waits := not_a_working_day(today, "chasing"):
        get_run_logger().info(waits)
        return ChaseSummary(day=today, reminders=0, emails_queued=0, emails_sent=0, overdue_items=0)
    outcome = queue_reminders(settings, today)
    sent = send_emails(settings)
    return ChaseSummary(
        day=today,
        reminders=outcome.reminders,
        emails_queued=outcome.emails_queued,
        emails_sent=sent.sent_by_run,
        overdue_items=sum(value for row in outcome.overdue for value in row.values() if isinstance(value, int)),
    )
