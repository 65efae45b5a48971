"""Tasks of the triangulation flow: check and store the month's citizen evidence, then set it beside the
audit findings and publish what converges to the QA team."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from checks.evidence import check_and_load_evidence
from checks.outcomes import EvidenceFailed, Intake
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import enqueue
from qaloop.reporting import triangulation
from qaloop.reporting.triangulation_messages import triangulation_message
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, publish_check


@task(name="check and store the citizen evidence", **RETRY_IO, **NOT_CACHED)
def load_evidence(settings: Settings, today: date) -> list[Intake]:
    """Check each configured extract and store what passes; files stored before are not read again."""
    try:
        loads = check_and_load_evidence(settings, today, on_report=publish_check)
    except EvidenceFailed as failed:
        get_run_logger().error("Not stored, nothing of these datasets was written:\n%s", failed)
        raise
    for load in loads:
        if load.quarantine_file is not None:
            get_run_logger().warning(
                "%s: %d row(s) set aside in %s", load.dataset.value, len(load.set_aside), load.quarantine_file
            )
    return loads


@task(name="set the audit findings beside the evidence", **RETRY_IO, **NOT_CACHED)
def triangulate(settings: Settings, today: date) -> triangulation.TriangulationResult:
    """Triangulate the window before ``today``'s month; publish the flagged teams, all teams and themes,
    and queue the QA team's email with them."""
    engine = engine_from(settings)
    with engine.connect() as connection:
        result = triangulation.triangulate(connection, settings, today)
    label = result.window.label
    flagged = result.flagged
    lines = [f"# Triangulation, {label}", ""]
    if flagged.empty:
        lines.append("No team or area has two or more sources signalling concern.")
    else:
        lines.append(f"**{len(flagged)} flagged** (two or more sources signalling concern):")
        lines += [f"- {row.unit} ({row.level}): {row.signals}" for row in flagged.itertuples()]
    create_markdown_artifact(key="triangulation", markdown="\n".join(lines), description=f"Triangulation, {label}")
    for name, table in (("teams", result.teams), ("areas", result.areas), ("themes", result.themes)):
        create_table_artifact(
            key=f"triangulation-{name}",
            description=f"Triangulation by {name[:-1]}, {label}",
            table=table.round(3).astype(object).where(table.notna(), None).to_dict("records"),
        )
    enqueue(engine, [triangulation_message(settings, result)])
    return result
