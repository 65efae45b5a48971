"""Tasks of the provider-intelligence flow: check and store the month's market intelligence, then propose and
record each provider's threshold level and publish the levels and movements to the quality team."""

from __future__ import annotations

from collections import Counter
from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from checks.outcomes import EvidenceFailed, Intake
from checks.providers import check_and_load_providers
from qaloop.core.settings import Settings
from qaloop.messaging import alerts
from qaloop.providers import record
from qaloop.providers.thresholds import LEVELS
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key, publish_check
from tasks.alerts import run_address, send_now


@task(name="check and store the market's intelligence", **RETRY_IO, **NOT_CACHED)
def load_market(settings: Settings, today: date) -> list[Intake]:
    """Check each configured provider dataset and store what passes; files stored before are not read again."""
    logger = get_run_logger()
    try:
        loads = check_and_load_providers(settings, today, on_report=publish_check)
    except EvidenceFailed as failed:
        logger.error("Not stored, nothing of these datasets was written:\n%s", failed)
        raise
    for load in loads:
        for left_out in load.left_out:
            logger.info("%s: left out %s", load.dataset.value, left_out)
    return loads


@task(name="propose the month's threshold levels", **RETRY_IO, **NOT_CACHED)
def propose_levels(settings: Settings, month: str, today: date) -> list[record.Placed]:
    """Propose and record each provider's level for ``month``; publish every level with its reasons and the
    providers that would move."""
    placed = record.propose_month(engine_from(settings), settings, month, today)
    counts = Counter(each.proposal.level for each in placed)
    moving = [each for each in placed if each.movement != "same"]
    lines = [f"# Provider threshold levels proposed for {month}", ""]
    lines += [f"- level {level} ({LEVELS[level]}): {counts[level]}" for level in (3, 2, 1)]
    said = f"**{len(moving)} would move** (for the quality review panel):" if moving else "No provider would move."
    lines += ["", said]
    lines += [
        f"- {each.location_id}: {each.movement} from level {each.current_level} to {each.proposal.level} "
        f"({', '.join(reason.rule for reason in each.proposal.reasons) or 'no rule met'})"
        for each in moving
    ]
    create_markdown_artifact(key="provider-levels", markdown="\n".join(lines), description=f"Levels, {month}")
    create_table_artifact(
        key="provider-levels-table",
        description=f"Each provider's proposed level and every reason, {month}",
        table=[
            {
                "location": each.location_id,
                "proposed level": each.proposal.level,
                "level now": each.current_level,
                "movement": each.movement,
                "reasons": "; ".join(f"{reason.rule}: {reason.says}" for reason in each.proposal.reasons),
            }
            for each in placed
        ],
    )
    return placed


@task(name="record the panel's decisions", **NOT_CACHED)
def record_decisions(settings: Settings, month: str, decisions: list[record.Decision], decided_by: str) -> list[str]:
    """Record the decisions given in the run's form, all or none (a decision is never retried on its own), and
    publish them."""
    said = record.decide_all(engine_from(settings), settings, month, decisions, decided_by)
    lines = [f"- {decision.location_id}: {words}" for decision, words in zip(decisions, said, strict=True)]
    create_markdown_artifact(
        key=artifact_key("provider-decisions", month),
        description=f"The panel's decisions, {month}",
        markdown="\n".join([f"# Decisions on provider levels, {month}", "", *(lines or ["No decision recorded."])]),
    )
    get_run_logger().info("Decisions for %s recorded:\n%s", month, "\n".join(lines))
    return said


@task(name="ask the panel for its decisions", **RETRY_IO, **NOT_CACHED)
def ask_for_decisions(settings: Settings, month: str, placed: list[record.Placed]) -> list[str]:
    """Email the quality review panel the run's address; the month's providers, for the decisions form."""
    moving = sum(1 for each in placed if each.movement != "same")
    message = alerts.decisions_message(
        settings, month, flow_run.name, str(flow_run.id), run_address(flow_run.id), len(placed), moving
    )
    send_now(settings, [message])
    get_run_logger().info("The levels for %s wait for the panel's decisions; it was emailed the run's address.", month)
    return [each.location_id for each in placed]
