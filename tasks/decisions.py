"""Tasks of the day's decision flows (moving an allocation, a substitute auditor, a corrective action, the
explanation of a sample): each calls the domain function its command-line twin calls, once (a decision is
never retried on its own), and publishes what was done, by whom and why, as a markdown artifact."""

from __future__ import annotations

from typing import Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from qaloop.allocation import record as allocation_record
from qaloop.core.settings import Settings
from qaloop.moderation.record import explain_moderation
from qaloop.programmes.explain import explain_cycle, reason_counts
from qaloop.returns.follow_up import close_action, confirm_action
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, artifact_key


def _published(key: str, title: str, lines: list[str]) -> str:
    """Log the decision's outcome and publish it; returns it as one text."""
    said = "\n".join(lines)
    get_run_logger().info("%s: %s", title, said)
    create_markdown_artifact(key=artifact_key(key), description=title, markdown=f"# {title}\n\n{said}")
    return said


def _why(decided_by: str, reason: str) -> str:
    return f"Decided by {decided_by}: {reason}"


@task(name="move the allocation", **NOT_CACHED)
def move(
    settings: Settings, cycle_ref: str, case_ref: str, reason: str, decided_by: str, to_auditor: str | None
) -> str:
    """Give the case to ``to_auditor``, or (None) replace it with its stratum's next reserve."""
    done = allocation_record.move_allocation(
        engine_from(settings), settings, cycle_ref, case_ref, reason=reason, actor=decided_by, to_auditor=to_auditor
    )
    return _published(
        "allocation-moved", f"Cycle {cycle_ref}: {case_ref}", [done, f"Decided by {decided_by}: {reason}"]
    )


@task(name="record the substitute auditor", **NOT_CACHED)
def substitute(settings: Settings, cycle_ref: str, case_ref: str, staff_id: str, reason: str, decided_by: str) -> str:
    """Record ``staff_id`` as who may return the case's audit in place of its auditor."""
    done = allocation_record.record_substitute(
        engine_from(settings), settings, cycle_ref, case_ref, staff_id, reason=reason, actor=decided_by
    )
    return _published(
        "substitute-recorded", f"Cycle {cycle_ref}: {case_ref}", [done, f"Decided by {decided_by}: {reason}"]
    )


@task(name="confirm or close the corrective action", **NOT_CACHED)
def corrective_action(
    settings: Settings, action_id: int, decision: Literal["confirm", "close"], by: str, evidence: str | None
) -> str:
    """Confirm the action (``by`` the service manager's staff id) or close it with its ``evidence``."""
    engine = engine_from(settings)
    done = (
        confirm_action(engine, action_id, by)
        if decision == "confirm"
        else close_action(engine, action_id, evidence or "", by)
    )
    return _published("corrective-action", f"Corrective action {action_id}", [done])


@task(name="explain the sample", **NOT_CACHED)
def explain(settings: Settings, cycle_ref: str, which: Literal["cycle", "moderation"]) -> str:
    """Draw the cycle's (or its moderation's) sample again from what was recorded and say whether it is the same,
    with why cases were drawn."""
    engine = engine_from(settings)
    if which == "cycle":
        explanation = explain_cycle(engine, settings, cycle_ref)
        same, differences = explanation.identical, explanation.differences
        reasons = [f"- {count:,}: {reason}" for reason, count in reason_counts(explanation.outcomes).items()]
    else:
        moderated = explain_moderation(engine, settings, cycle_ref)
        same, differences = moderated.identical, moderated.differences
        reasons = [
            f"- {row.case_ref}: {row.grade}, auditor {row.auditor_id}: {row.reason}"
            for row in moderated.sample.itertuples(index=False)
        ]
    verdict = (
        "Drawn again from its stored inputs, seed and rules: identical to the record."
        if same
        else "Drawn again, it differs from the record:"
    )
    lines = [verdict, *(f"- {line}" for line in differences), "", "Why cases were drawn:", *reasons]
    return _published(f"{which}-explained", f"Cycle {cycle_ref}: the {which} sample explained", lines)
