"""The corrective-action flow: from its form in the Prefect UI, a service manager's confirmation of a corrective
action and its due date, or its closing with the evidence of completion (the twins of `qaloop action confirm`
and `qaloop action close`)."""

from __future__ import annotations

from typing import Literal

from prefect import flow

from flows.move_allocation import Decision
from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.decisions import corrective_action as decide


@flow(
    name="corrective-action",
    flow_run_name=run_name(lambda settings: f"{settings.authority.code} corrective action"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def corrective_action(
    action_id: int,
    decision: Literal["confirm", "close"],
    by: str,
    evidence: str | None = None,
    config: str | None = None,
) -> Decision:
    """Confirm a corrective action, or close it with its evidence.

    Args:
        action_id: the action's number, as in the email that opened it
        decision: confirm (a service manager agrees the action and its due date) or close (it is done)
        by: to confirm, the service manager's staff id; to close, who closes it
        evidence: to close, what was done: the evidence of completion
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    settings = load_settings(config)
    return Decision(done=decide(settings, action_id, decision, by, evidence))
