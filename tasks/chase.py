"""Tasks of chase-deadlines: the day's reminders, escalations and overdue summary."""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.artifacts import create_table_artifact

from qaloop.core.settings import Settings
from qaloop.returns import chasing
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO


@task(name="queue the day's reminders and escalations", **RETRY_IO, **NOT_CACHED)
def queue_reminders(settings: Settings, today: date) -> chasing.ChaseOutcome:
    """Queue today's reminders (one email per person) and publish the overdue work by area and service manager."""
    outcome = chasing.chase(engine_from(settings), settings, today)
    create_table_artifact(
        key="overdue-work",
        description=f"Overdue work by area and service manager, {today:%d %B %Y}",
        table=outcome.overdue or [{"area": "(none)", "service_manager": "nothing is overdue"}],
    )
    return outcome
