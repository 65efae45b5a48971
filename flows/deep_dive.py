"""The deep-dive flow, started from the Prefect UI's form, `qaloop deep-dive`, or a cycle report's concern:
check and load the extracts, draw similar cases under the request's filters, tell the QA team why, allocate
auditors and send the emails; chasing, returns, moderation and the report then follow as for a cycle. A concern
that a deep dive looks or looked into within the window starts nothing more."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel

from qaloop.core.settings import Settings, load_settings
from qaloop.programmes.deep_dive import DeepDiveRequest, deep_dive_ref
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.cycle import allocate, check_and_load
from tasks.deep_dive import already_looked_into, draw
from tasks.notify import queue_emails, send_emails


class DeepDiveSummary(BaseModel):
    """What the run did."""

    cycle_ref: str
    admitted: int
    selected: int
    reaudits: int
    allocated: int
    emails_queued: int
    emails_sent: int
    already_looked_into_by: str | None = None  # a concern's deep dive not started: the one that has it


def _deep_dive_name(settings: Settings) -> str:
    parameters = flow_run.parameters
    request = DeepDiveRequest.model_validate(parameters["request"])
    today = date.fromisoformat(str(parameters["today"])) if parameters.get("today") else date.today()
    return f"{settings.authority.code} {deep_dive_ref(request, today)}"


@flow(
    name="deep-dive",
    flow_run_name=run_name(_deep_dive_name),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def deep_dive(request: DeepDiveRequest, config: str | None = None, today: date | None = None) -> DeepDiveSummary:
    """Start a deep dive of the cases ``request`` describes, selected ``today`` (default: today).

    Args:
        request: what the deep dive looks at: its theme, why, and which cases (audit types by their label or id)
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        today: the day the cases are selected (default: today)
    """
    settings = load_settings(config)
    request = request.resolved(settings)  # an unknown audit type or area stops the run here, saying which
    today = today or date.today()
    if earlier := already_looked_into(settings, request, today):
        return DeepDiveSummary(
            cycle_ref=deep_dive_ref(request, today), admitted=0, selected=0, reaudits=0, allocated=0,
            emails_queued=0, emails_sent=0, already_looked_into_by=earlier,
        )  # fmt: skip
    check_and_load(settings, today)
    drawn = draw(settings, request, today)
    assignments = allocate(settings, drawn.drawn.cycle)
    queued = queue_emails(settings, drawn.drawn.cycle)
    return DeepDiveSummary(
        cycle_ref=drawn.cycle_ref,
        admitted=drawn.admitted,
        selected=drawn.selected,
        reaudits=drawn.reaudits,
        allocated=sum(1 for a in assignments if a.auditor_id),
        emails_queued=queued,
        emails_sent=send_emails(settings).sent_by_run,
    )
