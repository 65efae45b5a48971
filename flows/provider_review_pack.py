"""The provider-review-pack flow, every working morning: when a quality review panel meeting is the configured
number of working days away, write the month's pack (every provider at level 2 or 3 and every proposed move, with
its evidence, its improvement plan's progress and the decision to record) and the market dashboard, and send
them to the panel and to commissioners and leadership. Run by hand with a meeting day, it writes and sends that
meeting's pack now."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.months import last_month
from qaloop.core.settings import load_settings
from qaloop.core.templates import long_date
from qaloop.providers.market import next_pack, pack_due
from qaloop.providers.record import quality_of
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.notify import send_emails
from tasks.providers import write_reports


class ReviewPackSummary(BaseModel):
    """What the run did."""

    day: date
    meeting: date | None = None
    month: str | None = None
    emails_sent: int = 0


@flow(
    name="provider-review-pack",
    flow_run_name=dated_run_name("provider-review-pack"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def provider_review_pack(
    config: str | None = None, today: date | None = None, meeting: date | None = None
) -> ReviewPackSummary:
    """Send the panel's pack when its meeting is provider_quality.pack_working_days_before working days away.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as (default: today)
        meeting: the meeting to send the pack for now, whatever the day (default: the one whose pack is due today)
    """
    settings = load_settings(config)
    today = today or date.today()
    quality = quality_of(settings)
    meeting = meeting or pack_due(quality, today)
    if meeting is None:
        coming = next_pack(quality, today)
        get_run_logger().info(
            "No panel meeting's pack is due today. "
            + (f"The next meeting is on {long_date(coming[0])}; its pack goes on {long_date(coming[1])}."
               if coming else "No meeting after today is configured: add them to provider_quality.panel_meetings.")
        )  # fmt: skip
        return ReviewPackSummary(day=today)
    month = last_month(meeting)
    write_reports(settings, month, meeting, today)
    return ReviewPackSummary(day=today, meeting=meeting, month=month, emails_sent=send_emails(settings).sent_by_run)
