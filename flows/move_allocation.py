"""The move-allocation flow: from its form in the Prefect UI, a service manager's decision to give a case to
another auditor, or to replace it with the next reserve of its stratum, recorded with who decided and why (the
twin of `qaloop allocation move`)."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.decisions import move

DECIDED = "service manager"


class Decision(BaseModel):
    """What was done, in words."""

    done: str


@flow(
    name="move-allocation",
    flow_run_name=run_name(lambda settings: f"{settings.authority.code} move an allocation"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def move_allocation(
    cycle_ref: str,
    case_ref: str,
    reason: str,
    to_auditor: str | None = None,
    decided_by: str = DECIDED,
    config: str | None = None,
) -> Decision:
    """Give a case to another auditor, or replace it with its stratum's next reserve.

    Args:
        cycle_ref: the cycle, e.g. 2026-09
        case_ref: the case to move, by its reference
        reason: why: kept with the allocation's history
        to_auditor: the staff id of the new auditor (leave empty to replace the case from the reserves)
        decided_by: who decided (a service manager's staff id or name)
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    settings = load_settings(config)
    return Decision(done=move(settings, cycle_ref, case_ref, reason, decided_by, to_auditor or None))
