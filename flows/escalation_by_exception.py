"""The escalation-by-exception flow, hourly in working hours: raise to the senior leadership team, at once and
once, each configured event the store holds (an audit escalated or graded at the bottom of the scale, a
triangulation flag, a corrective action long overdue, an indicator's special-cause concern, a provider moved to
level 3), with its evidence; chase those not yet acknowledged; send."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from qaloop.governance.escalations import REFERENCE, escalations_of
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.governance import chase_escalations, raise_exceptions
from tasks.notify import send_emails


class EscalationSummary(BaseModel):
    """What the run did."""

    day: date
    raised: list[str] = []
    reminders: int = 0
    emails_sent: int = 0


@flow(
    name="escalation-by-exception",
    flow_run_name=dated_run_name("escalation-by-exception"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def escalation_by_exception(config: str | None = None, today: date | None = None) -> EscalationSummary:
    """Raise the day's escalations and chase those not acknowledged.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as (default: today)
    """
    settings = load_settings(config)
    escalations_of(settings)  # refuses plainly where escalation by exception is not configured
    today = today or date.today()
    if waits := not_a_working_day(today, "escalation by exception"):
        get_run_logger().info(waits)
        return EscalationSummary(day=today)
    raised = raise_exceptions(settings, today)
    reminders = chase_escalations(settings, today)
    return EscalationSummary(
        day=today,
        raised=[REFERENCE.format(id=escalation_id) for escalation_id in raised],
        reminders=reminders,
        emails_sent=send_emails(settings).sent_by_run,
    )
