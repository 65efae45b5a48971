"""The moderation flow: each day, for every cycle whose audit window has just closed, draw the moderation
sample and allocate it to practice leads with their forms; for every cycle being moderated, work out how
far the grading agrees with moderation and keep the figures for the cycle report."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from qaloop.core.working_days import is_working_day
from qaloop.moderation import record as moderation_record
from qaloop.store.engine import engine_from
from tasks.alerts import alert_qa_team
from tasks.moderation import agreement_figures, draw_moderation
from tasks.notify import send_emails


class ModerationSummary(BaseModel):
    """What the run did."""

    drawn: dict[str, int] = {}
    moderated: dict[str, int] = {}
    emails_sent: int = 0


def _run_name() -> str:
    settings = load_settings(flow_run.parameters.get("config"))
    return f"{settings.authority.code} moderation {flow_run.parameters.get('today') or date.today()}"


@flow(name="moderation", flow_run_name=_run_name, log_prints=False, on_failure=[alert_qa_team])
def moderation(config: str | None = None, today: date | None = None) -> ModerationSummary:
    """Moderate the cycles whose audit window has closed; nothing on a weekend or bank holiday."""
    settings = load_settings(config)
    today = today or date.today()
    summary = ModerationSummary()
    if not is_working_day(today):
        get_run_logger().info("%s is not a working day: moderation waits for the next one.", today)
        return summary
    engine = engine_from(settings)
    for cycle_ref in moderation_record.windows_closed(engine, settings, today):
        summary.drawn[cycle_ref] = draw_moderation(settings, cycle_ref).sampled
    for cycle_ref in moderation_record.in_moderation(engine, settings):
        tables = agreement_figures(settings, cycle_ref)
        overall = tables.get("overall")
        summary.moderated[cycle_ref] = 0 if overall is None else int(overall["audits"].iloc[0])
    summary.emails_sent = send_emails(settings).sent
    return summary
