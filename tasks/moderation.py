"""Tasks of the moderation flow: draw and allocate a closed cycle's moderation, tell the practice leads,
and work out the agreement figures."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from qaloop.core.settings import Settings
from qaloop.moderation import record as moderation_record
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key

_WHY = {
    "flagged": "grading systematically high or low",
    "feedback-flagged": "feedback that seldom names strengths and learning",
}


@task(name="draw and allocate the moderation sample", **RETRY_IO, **NOT_CACHED)
def draw_moderation(settings: Settings, cycle_ref: str) -> moderation_record.ModerationRound:
    """Draw the cycle's sample (kept if drawn before), give each audit a practice lead, queue their emails."""
    engine = engine_from(settings)
    drawn = moderation_record.draw_and_allocate(engine, settings, cycle_ref)
    moderation_record.moderation_messages(engine, settings, cycle_ref)
    if drawn.drawn_now:
        with engine.connect() as connection:
            sample = moderation_record.moderation_sample(connection, settings, cycle_ref)
        create_table_artifact(
            key=artifact_key("moderation-sample", cycle_ref),
            description=f"Cycle {cycle_ref}: {drawn.sampled} of {drawn.submitted} audits drawn for moderation",
            table=sample.to_dict("records"),
        )
    if drawn.waiting:
        get_run_logger().warning(
            "Cycle %s: no practice lead may moderate %d audit(s): %s", cycle_ref, len(drawn.waiting), drawn.waiting
        )
    return drawn


@task(name="find the cycles to moderate", **RETRY_IO, **NOT_CACHED)
def cycles_to_moderate(settings: Settings, today: date) -> tuple[list[str], list[str]]:
    """The cycles whose audit window has closed by ``today`` with their moderation still to draw, and the cycles
    being moderated (whose agreement figures are worked out again as moderation forms come back)."""
    engine = engine_from(settings)
    return moderation_record.windows_closed(engine, settings, today), moderation_record.in_moderation(engine, settings)


@task(name="work out the agreement figures", **RETRY_IO, **NOT_CACHED)
def agreement_figures(settings: Settings, cycle_ref: str) -> int:
    """Compute and keep the cycle's agreement figures; publish them, and the auditors flagged, to the QA team.
    Returns how many of the cycle's audits have been moderated."""
    tables = moderation_record.record_agreement(engine_from(settings), settings, cycle_ref)
    for name, table in tables.items():
        flags = name in ("flagged", "feedback-flagged")
        if flags and table.empty:
            continue
        create_table_artifact(
            key=artifact_key("agreement", cycle_ref, name),
            description=f"Cycle {cycle_ref}: agreement with moderation, {name.replace('_', ' ')}"
            if not flags
            else f"Cycle {cycle_ref}: auditors flagged by moderation, {_WHY[name]} (for the QA team only)",
            table=table.round(3).astype(object).where(table.notna(), None).to_dict("records"),
        )
    overall = tables.get("overall")
    return 0 if overall is None or overall.empty else int(overall["audits"].iloc[0])
