"""The performance-compendium flow, every working morning: from the configured day of the month (Coventry: the
4th) until it has gone, check and store the month's KPI return and send last month's compendium (every key
indicator on its SPC chart with the Making Data Count reading, against target and benchmark, by service area)
to the managers. Run by hand with a month, it writes that month's compendium now."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.schema import Dataset
from qaloop.core.settings import load_settings
from qaloop.governance.indicators import governance_of
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.governance import compendium_due, load_indicators, write_month
from tasks.notify import send_emails


class CompendiumSummary(BaseModel):
    """What the run did."""

    day: date
    month: str | None = None
    compendium: str | None = None
    emails_sent: int = 0


@flow(
    name="performance-compendium",
    flow_run_name=dated_run_name("performance-compendium"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def performance_compendium(
    config: str | None = None, today: date | None = None, month: str | None = None
) -> CompendiumSummary:
    """Send last month's compendium when it is due.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as (default: today)
        month: the month (YYYY-MM) to write the compendium for now, whatever the day (default: the one due today)
    """
    settings = load_settings(config)
    governance = governance_of(settings)
    today = today or date.today()
    month = month or compendium_due(settings, today)
    if month is None:
        get_run_logger().info(
            f"No compendium is due today: last month's goes from day {governance.compendium_day} of the month (or "
            "the next working day), once."
        )
        return CompendiumSummary(day=today)
    if Dataset.INDICATORS in settings.sources:
        load_indicators(settings, today)
    files = write_month(settings, month)
    return CompendiumSummary(
        day=today, month=month, compendium=str(files.page), emails_sent=send_emails(settings).sent_by_run
    )
