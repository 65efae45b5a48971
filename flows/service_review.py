"""The service performance review flow, each working day: send each service area's six-monthly review workbook to
its head of service when its panel is ``governance.reviews.send_working_days_before`` away, chase the workbooks
not returned by their due day, and send. The returned workbooks (the self-assessment, then the panel's record) come
back through the drop folder like any return (`returns` flow)."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from qaloop.governance.indicators import GovernanceError
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.governance import chase_review_workbooks, send_review_workbooks
from tasks.notify import send_emails


class ServiceReviewSummary(BaseModel):
    """What the run did."""

    day: date
    sent: list[str] = []
    reminders: int = 0
    emails_sent: int = 0


@flow(
    name="service-review",
    flow_run_name=dated_run_name("service-review"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def service_review(config: str | None = None, today: date | None = None) -> ServiceReviewSummary:
    """Send the review workbooks due and chase those not returned.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    if waits := not_a_working_day(today, "the service performance review"):
        get_run_logger().info(waits)
        return ServiceReviewSummary(day=today)
    sent = send_review_workbooks(settings, today)
    reminders = chase_review_workbooks(settings, today)
    emails = send_emails(settings).sent_by_run
    if sent.refused:
        raise GovernanceError(
            f"{len(sent.refused)} service review workbook(s) not sent: "
            + "; ".join(f"{ref}: {why}" for ref, why in sent.refused.items())
        )
    return ServiceReviewSummary(day=today, sent=sent.sent, reminders=reminders, emails_sent=emails)
