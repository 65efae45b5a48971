"""Tasks of the provider flows: check and store the market's intelligence; raise the urgent reviews its major
concerns call for, as events that start provider-urgent-review runs; propose and record each provider's
threshold level and publish the levels and movements; record the panel's decisions; the urgent review itself;
the day's chasing of what providers owe, with the monitoring overdue; and the month's dashboard and panel pack."""

from __future__ import annotations

from collections import Counter
from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from checks.outcomes import EvidenceFailed, Intake
from checks.providers import check_and_load_providers
from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging import alerts, outbox
from qaloop.providers import market, monitoring, record, urgent
from qaloop.providers.thresholds import LEVELS
from qaloop.reporting.provider_reports import ProviderReports, reports_messages, write_provider_reports
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key, publish_check
from tasks.alerts import run_address, send_now

URGENT_EVENT = "qaloop.provider.urgent"


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


@task(name="raise the urgent reviews", **RETRY_IO, **NOT_CACHED)
def raise_urgent_reviews(settings: Settings, today: date) -> list[str]:
    """Record each major concern the stored intelligence shows for the first time, email the panel about it at
    once, and emit a ``qaloop.provider.urgent`` event for every urgent review not yet sent to the panel (the
    provider-urgent-review deployment's trigger starts its run); returns the causes raised by this run."""
    engine = engine_from(settings)
    raised = urgent.raise_urgent(engine, settings, today)
    waiting = urgent.awaiting_review(engine, settings)
    for cause in waiting:
        emit_event(
            event=URGENT_EVENT,
            resource={
                "prefect.resource.id": f"qaloop.provider.{cause.location_id}.{cause.cause}.{cause.cause_ref}",
                "prefect.resource.name": cause.provider_name,
            },
            payload={
                "authority": settings.authority.code,
                "location_id": cause.location_id,
                "cause": cause.cause,
                "cause_ref": cause.cause_ref,
                "trigger": cause.trigger,
            },
        )
    if waiting:
        create_table_artifact(
            key="provider-urgent",
            description="Major concerns about providers: the urgent reviews raised and waiting to go to the panel",
            table=[
                {
                    "location": cause.location_id,
                    "trigger": cause.trigger,
                    "what happened": cause.says,
                    "raised": "by this run" if cause in raised else "earlier, review not yet sent",
                }
                for cause in waiting
            ],
        )
    for cause in raised:
        get_run_logger().warning("Urgent review of %s raised: %s.", cause.location_id, cause.says)
    # After the events: a relay refusing the emails must not stop the reviews starting. The emails of causes an
    # earlier run raised but could not send go too; each goes once, whoever sends it.
    send_now(settings, [urgent.urgent_message(settings, cause) for cause in waiting])
    return [f"{cause.location_id} {cause.cause} {cause.cause_ref}" for cause in raised]


@task(name="review the provider urgently", **RETRY_IO, **NOT_CACHED)
def review_urgently(
    settings: Settings, location_id: str, cause: str, cause_ref: str, today: date
) -> urgent.UrgentReview:
    """Set the urgent review's cause beside the provider's level now and the level the threshold rules give
    today, publish it, send it to the panel (once per cause) and record that it went."""
    engine = engine_from(settings)
    review = urgent.review(engine, settings, location_id, cause, cause_ref, today)
    lines = [
        f"# Urgent review of {location_id}, {long_date(today)}",
        "",
        f"Raised because {review.cause.says} (trigger {review.cause.trigger}).",
        "",
        f"- Level now (last decided): {review.level_now} ({LEVELS[review.level_now]})",
    ]
    if review.by_rules is None:
        lines.append(f"- **The threshold rules cannot give a level today**: {review.rules_refused}")
        get_run_logger().warning("The rules cannot give %s a level today: %s", location_id, review.rules_refused)
    else:
        level = review.by_rules.level
        lines.append(f"- Level the threshold rules give today: **{level}** ({LEVELS[level]})")
        lines += [f"  - {reason.rule} (level {reason.level}): {reason.says}" for reason in review.by_rules.reasons]
    create_markdown_artifact(
        key=artifact_key("provider-urgent-review", location_id),
        description=f"Urgent review of {location_id}",
        markdown="\n".join(lines),
    )
    send_now(settings, [urgent.review_message(settings, review)])
    urgent.mark_reviewed(engine, settings, review.cause)
    return review


@task(name="chase what providers owe", **RETRY_IO, **NOT_CACHED)
def chase_providers(settings: Settings, today: date) -> monitoring.ProviderChase:
    """Take the day's steps of the providers' ladders and queue their emails and the quality team's summary;
    publish the monitoring overdue and what cannot be reckoned."""
    chased = monitoring.chase_providers(engine_from(settings), settings, today)
    found = chased.monitoring
    if found is None:
        return chased
    logger = get_run_logger()
    for line in found.cannot_tell:
        logger.warning(line)
    overdue = found.overdue()
    lines = [
        f"# Provider monitoring, {long_date(today)}",
        "",
        f"- {len(found.owed)} item(s) owed, **{len(overdue)} overdue**",
        f"- {chased.steps} reminder or escalation step(s) taken today; {chased.emails_queued} email(s) queued",
    ]
    if found.cannot_tell:
        lines += ["", "**Cannot be reckoned:**", *(f"- {line}" for line in found.cannot_tell)]
    create_markdown_artifact(key="provider-monitoring", description="Provider monitoring", markdown="\n".join(lines))
    create_table_artifact(
        key="provider-monitoring-overdue",
        description=f"Provider monitoring overdue, {long_date(today)}",
        table=[
            {
                "location": owed.location_id,
                "level": found.levels.get(owed.location_id, 1),
                "what": owed.what,
                "due": owed.due.isoformat(),
                "by": owed.by.replace("_", " "),
            }
            for owed in overdue
        ],
    )
    logger.info("%d provider monitoring item(s) overdue; %d step(s) taken.", len(overdue), chased.steps)
    return chased


@task(name="write and queue the dashboard and the panel pack", **RETRY_IO, **NOT_CACHED)
def write_reports(settings: Settings, month: str, meeting: date | None, today: date) -> ProviderReports:
    """Write the month's dashboard and pack with their workbooks, publish where they are and who is in the pack,
    and queue their emails (each once)."""
    engine = engine_from(settings)
    figures = market.market_figures(engine, settings, month, today)
    reports = write_provider_reports(settings, figures, meeting)
    outbox.enqueue(engine, reports_messages(settings, figures, reports, meeting))
    when = f" for the meeting on {long_date(meeting)}" if meeting else ""
    create_markdown_artifact(
        key=artifact_key("provider-pack", month),
        description=f"The panel pack and the market dashboard, {month}",
        markdown="\n".join([
            f"# The panel pack, {month}{when}", "",
            f"- pack: `{reports.pack}` (workbook `{reports.pack_data}`)",
            f"- dashboard: `{reports.dashboard}` (workbook `{reports.dashboard_data}`)", "",
            f"{len(figures.pack)} provider(s) for the panel:", "",
            *(f"- {entry.location_id}: level {entry.level_now}, proposed {entry.proposed}"
              + (f" (decided: {entry.decision})" if entry.decision else "") for entry in figures.pack),
        ]),
    )  # fmt: skip
    return reports
