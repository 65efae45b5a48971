"""The record-substitute flow: from its form in the Prefect UI, an auditor who may return a case's audit in place
of the allocated one (leave, sickness), recorded with who decided and why (the twin of `qaloop allocation
substitute`)."""

from __future__ import annotations

from prefect import flow

from flows.move_allocation import Decision
from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.decisions import substitute


@flow(
    name="record-substitute",
    flow_run_name=run_name(lambda settings: f"{settings.authority.code} record a substitute auditor"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def record_substitute(
    cycle_ref: str, case_ref: str, staff_id: str, reason: str, decided_by: str = "QA team", config: str | None = None
) -> Decision:
    """Record an auditor standing in for a case's allocated one.

    Args:
        cycle_ref: the cycle, e.g. 2026-09
        case_ref: the case, by its reference
        staff_id: the staff id of the auditor standing in
        reason: why: kept with the allocation's history
        decided_by: who decided
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    settings = load_settings(config)
    return Decision(done=substitute(settings, cycle_ref, case_ref, staff_id, reason, decided_by))
