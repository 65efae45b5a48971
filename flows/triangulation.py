"""The triangulation flow, monthly on the 4th: check and store the month's complaints, compliments,
Ombudsman decisions and survey responses, set them beside the audit findings by team, area and theme,
flag where several sources point the same way, and tell the QA team."""

from __future__ import annotations

from datetime import date

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.notify import send_emails
from tasks.triangulation import load_evidence, triangulate


class TriangulationSummary(BaseModel):
    """What the run found."""

    window: str
    rows_stored: dict[str, int]
    flagged: list[str]
    emails_sent: int


@flow(
    name="triangulation",
    flow_run_name=dated_run_name("triangulation"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def triangulation(config: str | None = None, today: date | None = None) -> TriangulationSummary:
    """Triangulate the whole months before ``today`` (default: today) against the authority.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: triangulate the whole months before this day (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    loads = load_evidence(settings, today)
    result = triangulate(settings, today)
    return TriangulationSummary(
        window=result.window.label,
        rows_stored={load.dataset.value: load.new for load in loads},
        flagged=result.flagged_units,
        emails_sent=send_emails(settings).sent_by_run,
    )
