"""Tasks of deep dives: draw one and tell the QA team why it started; raise a cycle report's concerns as
events that start deep dives of similar cases."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from qaloop.core.settings import Settings
from qaloop.core.templates import long_date
from qaloop.messaging.outbox import enqueue
from qaloop.programmes import deep_dive
from qaloop.programmes.readiness import NotReady
from qaloop.reporting.figures import CycleFigures
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key
from tasks.cycle import publish_not_drawn, publish_sample

CONCERN_EVENT = "qaloop.concern.detected"


@task(name="draw the deep dive", **RETRY_IO, **NOT_CACHED)
def draw(settings: Settings, request: deep_dive.DeepDiveRequest, today: date) -> deep_dive.DeepDiveDraw:
    """Draw and record the deep dive's sample, publish it, and queue the QA team's note of why it started."""
    engine = engine_from(settings)
    try:
        drawn = deep_dive.draw_deep_dive(engine, settings, request, today)
    except NotReady as refusal:
        publish_not_drawn("deep-dive-not-drawn", f"Deep dive {deep_dive.deep_dive_ref(request, today)}", refusal)
        raise
    if drawn.drawn.selection is not None:
        publish_sample(drawn.drawn.selection, f"Deep dive {drawn.cycle_ref}", "deep_dive")
    else:
        get_run_logger().info("Deep dive %s was already drawn; its recorded sample is kept.", drawn.cycle_ref)
    create_markdown_artifact(
        key="deep-dive",
        description=f"Deep dive {drawn.cycle_ref}",
        markdown=f"# Deep dive {drawn.cycle_ref}: {request.theme}\n\n{request.reason}\n\n"
        f"{drawn.selected} case(s) drawn of {drawn.admitted} admitted by the filters; {drawn.reaudits} re-audit(s); "
        f"audits due {long_date(drawn.dates.audit_due)}.",
    )
    enqueue(engine, [deep_dive.started_message(settings, request, drawn)])
    return drawn


@task(name="ask whether the concern is already looked into", **RETRY_IO, **NOT_CACHED)
def already_looked_into(settings: Settings, request: deep_dive.DeepDiveRequest, today: date) -> str | None:
    """For a deep dive a concern started: the deep dive that already looks or looked into it within the window
    (then this one draws nothing, and says so in the log and the UI), else None."""
    if request.concern is None:
        return None
    ref = deep_dive.deep_dive_ref(request, today)
    earlier = deep_dive.looked_into(engine_from(settings), settings, request.concern, today, but_not=ref)
    if earlier:
        said = (
            f"The concern {request.concern} is already looked into by deep dive {earlier}: nothing is drawn "
            f"(a concern starts one deep dive in {settings.deep_dives.concern_window_days} days)."
        )
        get_run_logger().warning(said)
        create_markdown_artifact(key="deep-dive", description=f"Deep dive {ref} not started", markdown=said)
    return earlier


@task(name="raise the report's concerns", **NOT_CACHED)
def raise_concerns(settings: Settings, figures: CycleFigures, today: date) -> list[str]:
    """Emit a ``qaloop.concern.detected`` event for each concern the figures show that no deep dive looks or
    looked into within the window (the deep-dive deployment's trigger starts one); returns the concerns raised."""
    if not settings.deep_dives.start_on_concern:
        return []
    engine = engine_from(settings)
    raised, rows = [], []
    for concern in deep_dive.concerns(figures, settings):
        already = deep_dive.looked_into(engine, settings, concern.key, today)
        rows.append({"concern": concern.says, "deep dive": already or "started by this report"})
        if already:
            continue
        emit_event(
            event=CONCERN_EVENT,
            resource={
                "prefect.resource.id": f"qaloop.concern.{concern.key}",
                "prefect.resource.name": concern.request.theme,
            },
            payload={
                "authority": settings.authority.code,
                "cycle_ref": figures.cycle_ref,
                "kind": concern.kind,
                "share": round(concern.share, 4),
                "audits": concern.n,
                "threshold": settings.deep_dives.concern_below,
                "request": concern.request.model_dump(mode="json"),
            },
        )
        raised.append(concern.key)
    if rows:
        create_table_artifact(
            key=artifact_key("concerns", figures.cycle_ref),
            description=f"Cycle {figures.cycle_ref}: concerns found, and the deep dives looking into them",
            table=rows,
        )
    return raised
