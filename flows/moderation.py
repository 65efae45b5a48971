"""The moderation flow: each day, for every cycle whose audit window has just closed, draw the moderation
sample and allocate it to practice leads with their forms; for every cycle being moderated, work out how
far the grading agrees with moderation and keep the figures for the cycle report."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import not_a_working_day
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.moderation import agreement_figures, cycles_to_moderate, draw_moderation
from tasks.notify import send_emails


class ModerationSummary(BaseModel):
    """What the run did."""

    drawn: dict[str, int] = {}
    moderated: dict[str, int] = {}
    emails_sent: int = 0


@flow(
    name="moderation",
    flow_run_name=dated_run_name("moderation"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def moderation(config: str | None = None, today: date | None = None) -> ModerationSummary:
    """Moderate the cycles whose audit window has closed; nothing on a weekend or bank holiday.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day to act as, for a catch-up or a rehearsal (default: today)
    """
    settings = load_settings(config)
    today = today or date.today()
    summary = ModerationSummary()
    if waits := not_a_working_day(today, "moderation"):
        get_run_logger().info(waits)
        return summary
    to_draw, being_moderated = cycles_to_moderate(settings, today)
    for cycle_ref in to_draw:
        summary.drawn[cycle_ref] = draw_moderation(settings, cycle_ref).sampled
    # Drawn just now, or earlier: either way its figures are worked out afresh.
    for cycle_ref in dict.fromkeys([*to_draw, *being_moderated]):
        summary.moderated[cycle_ref] = agreement_figures(settings, cycle_ref)
    summary.emails_sent = send_emails(settings).sent_by_run
    return summary
