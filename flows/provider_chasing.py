"""The provider-chasing flow, every working morning: take in the market's intelligence that has landed, raise
the urgent reviews its major concerns call for, chase providers for their monthly returns, self-assessments
and improvement actions up their ladders, tell the quality team what monitoring is overdue, and send the
emails."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.notify import send_emails
from tasks.providers import chase_providers, load_market, raise_urgent_reviews


class ProviderChasingSummary(BaseModel):
    """What the run did."""

    day: date
    rows_stored: dict[str, int] = {}
    urgent: list[str] = []
    steps: int = 0
    overdue: int = 0
    emails_sent: int = 0


@flow(
    name="provider-chasing",
    flow_run_name=dated_run_name("provider-chasing"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def provider_chasing(config: str | None = None, today: date | None = None) -> ProviderChasingSummary:
    """Chase what providers owe in working days; on a weekend or bank holiday nobody is chased.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    if waits := not_a_working_day(today, "provider chasing"):
        get_run_logger().info(waits)
        return ProviderChasingSummary(day=today)
    loads = load_market(settings, today)
    urgent = raise_urgent_reviews(settings, today)
    chased = chase_providers(settings, today)
    sent = send_emails(settings)
    return ProviderChasingSummary(
        day=today,
        rows_stored={load.dataset.value: load.new for load in loads},
        urgent=urgent,
        steps=chased.steps,
        overdue=len(chased.monitoring.overdue()) if chased.monitoring else 0,
        emails_sent=sent.sent_by_run,
    )
