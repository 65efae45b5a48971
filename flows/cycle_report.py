"""The cycle-report flow, each working morning: for every cycle that has reached its close date, write the
summary report for the governance board, the highlights report for the senior practitioners' network,
each area's outcome report for its director and service managers, and the anonymised workshop dataset;
keep them with the cycle, close it, and send the reports to their distribution lists. Where a regular
cycle's figures fall below the concern line, raise the concern so a deep dive of similar cases starts."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from qaloop.core.settings import Settings, load_settings
from qaloop.core.working_days import not_a_working_day
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.deep_dive import raise_concerns
from tasks.notify import send_emails
from tasks.report import cycles_to_report, queue_reports, write_reports


class ReportSummary(BaseModel):
    """What the run wrote and sent."""

    reports: dict[str, list[str]] = {}
    emails_queued: int = 0
    emails_sent: int = 0
    concerns: list[str] = []


def _report_name(settings: Settings) -> str:
    which = flow_run.parameters.get("cycle_ref") or flow_run.parameters.get("today") or date.today()
    return f"{settings.authority.code} cycle-report {which}"


@flow(
    name="cycle-report",
    flow_run_name=run_name(_report_name),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def cycle_report(config: str | None = None, cycle_ref: str | None = None, today: date | None = None) -> ReportSummary:
    """Report the cycles closing by ``today`` (or, given ``cycle_ref``, that cycle again, at any time).

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        cycle_ref: report this cycle again now, closed or not (e.g. 2026-09; default: every cycle closing by today)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    summary = ReportSummary()
    if cycle_ref is None and (waits := not_a_working_day(today, "reports")):
        get_run_logger().info(waits)
        return summary
    for ref in [cycle_ref] if cycle_ref else cycles_to_report(settings, today):
        built = write_reports(settings, ref, today)
        summary.reports[ref] = [str(report.path) for report in built.reports]
        summary.emails_queued += queue_reports(settings, built)
        summary.concerns += raise_concerns(settings, built.figures, today)
    summary.emails_sent = send_emails(settings).sent_by_run
    return summary
