"""The managers-monthly flow, on the first working morning of each month: check and load the extracts, draw
each manager's cases for the month (never from a team they manage), give each case to its manager, and send
the auditor, self-reflection and service manager emails; chasing, returns, moderation and the report then
follow as for a cycle."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from qaloop.core.settings import Settings, load_settings
from qaloop.core.working_days import not_a_working_day
from qaloop.programmes.managers_monthly import month_ref
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.cycle import allocate, check_and_load, draw_month
from tasks.notify import queue_emails, send_emails


class MonthSummary(BaseModel):
    """What the run did."""

    cycle_ref: str
    allocated: int = 0
    emails_queued: int = 0
    emails_sent: int = 0


def _month_name(settings: Settings) -> str:
    today = flow_run.parameters.get("today")
    return f"{settings.authority.code} {month_ref(date.fromisoformat(str(today)) if today else date.today())}"


@flow(
    name="managers-monthly",
    flow_run_name=run_name(_month_name),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def managers_monthly(config: str | None = None, today: date | None = None, seed: int | None = None) -> MonthSummary:
    """Draw and send this month's managers' audits; on a weekend or bank holiday nothing is drawn.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
        seed: the draw's random seed (default: one derived from the authority and the month)
    """
    settings = load_settings(config)
    today = today or date.today()
    summary = MonthSummary(cycle_ref=month_ref(today))
    if waits := not_a_working_day(today, "the managers' audits"):
        get_run_logger().info(waits)
        return summary
    check_and_load(settings, today)
    month = draw_month(settings, today, seed)
    assignments = allocate(settings, month)
    summary.allocated = sum(1 for a in assignments if a.auditor_id)
    summary.emails_queued = queue_emails(settings, month)
    summary.emails_sent = send_emails(settings).sent_by_run
    return summary
