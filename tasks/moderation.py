"""Tasks of the moderation flow: draw and allocate a closed cycle's moderation, tell the practice leads,
and work out the agreement figures."""

from __future__ import annotations

import pandas as pd
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


@task(name="work out the agreement figures", **RETRY_IO, **NOT_CACHED)
def agreement_figures(settings: Settings, cycle_ref: str) -> dict[str, pd.DataFrame]:
    """Compute and keep the cycle's agreement figures; publish them, and the auditors flagged, to the QA team."""
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
    return tables
