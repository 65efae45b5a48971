"""The ingest-returns flow: file the returned audits, self-reflections and corrective actions waiting in the
drop folder, then send the feedback, actions, escalations and notices their filing queued."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.notify import send_emails
from tasks.returns import ingest_drop_folder


class IngestSummary(BaseModel):
    """What the run did."""

    files: int
    filed: int
    held: int
    quarantined_files: int
    rows_not_filed: int
    emails_sent: int
    emails_still_queued: int


@flow(
    name="ingest-returns",
    flow_run_name=dated_run_name("returns"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def ingest_returns(config: str | None = None, today: date | None = None) -> IngestSummary:
    """File what has come back, hourly in working hours; on a weekend or bank holiday it does nothing.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    if waits := not_a_working_day(today, "filing returns"):
        get_run_logger().info(waits)
        return IngestSummary(
            files=0, filed=0, held=0, quarantined_files=0, rows_not_filed=0, emails_sent=0, emails_still_queued=0
        )
    outcomes = ingest_drop_folder(settings, today)
    sent = send_emails(settings)
    return IngestSummary(
        files=len(outcomes),
        filed=sum(len(o.filed) for o in outcomes),
        held=sum(len(o.held) for o in outcomes),
        quarantined_files=sum(o.status == "quarantined" for o in outcomes),
        rows_not_filed=sum(len(o.rejected) for o in outcomes),
        emails_sent=sent.sent_by_run,
        emails_still_queued=sent.still_queued,
    )
