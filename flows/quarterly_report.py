"""The quarterly-report flow, every working morning: from the configured day of the month after a quarter until it
has gone, write the quarter's quality assurance report to the leadership team (headlines by business unit and by
quality standard from the four sources of evidence, what is strong and what must improve, the escalations and what
became of them, the corrective actions, the share good or better against earlier quarters on a p-chart) and send
it. Run by hand with a day, it writes the report of the quarter that day falls in now."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.governance.indicators import governance_of
from qaloop.governance.quarterly import quarter_of
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.governance import quarterly_due, write_quarter
from tasks.notify import send_emails


class QuarterlySummary(BaseModel):
    """What the run did."""

    day: date
    quarter: str | None = None
    report: str | None = None
    emails_sent: int = 0


@flow(
    name="quarterly-report",
    flow_run_name=dated_run_name("quarterly-report"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def quarterly_report(
    config: str | None = None, today: date | None = None, quarter_of_day: date | None = None
) -> QuarterlySummary:
    """Send the quarter's report when it is due.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as (default: today)
        quarter_of_day: write the report of the quarter this day falls in now, whatever the day (default: the one due)
    """
    settings = load_settings(config)
    governance = governance_of(settings)
    today = today or date.today()
    quarter = quarter_of(quarter_of_day) if quarter_of_day else quarterly_due(settings, today)
    if quarter is None:
        get_run_logger().info(
            f"No quarterly report is due today: a quarter's goes from day {governance.quarterly_day} of the month "
            "after it (or the next working day), once."
        )
        return QuarterlySummary(day=today)
    files = write_quarter(settings, quarter)
    return QuarterlySummary(
        day=today, quarter=quarter.label, report=str(files.page), emails_sent=send_emails(settings).sent_by_run
    )
