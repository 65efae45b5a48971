"""Watching the runs: the failure hook every flow carries (a failed or crashed run emails the QA team once, with
its UI address), and the watch from outside (`qaloop watch-runs`) for runs that have not started long after
their time or crashed beyond their own hook's reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.logging import get_logger
from prefect.settings import PREFECT_UI_URL, get_current_settings

from qaloop.core.settings import ConfigError, Settings, load_settings
from qaloop.messaging import alerts, outbox
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED


def run_address(run_id: object) -> str:
    """Where the Prefect UI shows a flow run: ``PREFECT_UI_URL``, else the Prefect server this machine would
    start (``PREFECT_SERVER_API_HOST`` and ``PREFECT_SERVER_API_PORT``, as `make ui` does)."""
    server = get_current_settings().server.api
    ui = PREFECT_UI_URL.value() or f"http://{server.host}:{server.port}"
    return f"{ui.rstrip('/')}/runs/flow-run/{run_id}"


def alert_qa_team(flow: Any, flow_run: Any, state: Any) -> None:
    """Queue the alert for this failed or crashed run and send what is queued; if the mail server is the
    trouble, the alert stays queued for the next run that sends.

    When the run's own configuration cannot be read (the usual reason such a run fails at once), the alert
    goes by the worker's configuration (``QALOOP_CONFIG``, or ``qaloop.yaml`` where it runs), naming the file
    and what is wrong with it.
    """
    logger = get_logger("qaloop.messaging.alerts")
    given = flow_run.parameters.get("config")
    why = state.message or ""
    try:
        settings = load_settings(given)
    except ConfigError as error:
        try:
            settings = load_settings(None) if given else None
        except ConfigError:
            settings = None
        if settings is None:
            logger.error("No alert could be sent: the configuration cannot be read: %s", error)
            return
        why = f"The run's configuration cannot be read: {error}"
    message = alerts.failure_message(
        settings, flow.name, flow_run.name, str(flow_run.id), run_address(flow_run.id), why, crashed=state.is_crashed()
    )
    try:
        send_now(settings, [message])
    except OSError as error:
        logger.error("The failure alert stays queued: the mail server could not be reached: %s", error)


def send_now(settings: Settings, messages: list[outbox.Message]) -> int:
    """Queue the alerts and send them, and only them: the run alerting may be one stopping on request, which
    must not send the rest of the queue on its way out. One queued before and not yet sent (an earlier attempt
    the mail server refused, or another transaction that queued it) goes now; one sent before does not go
    again. Returns how many were newly queued."""
    engine = engine_from(settings)
    queued = outbox.enqueue(engine, messages)
    if messages:
        outbox.send_queued(engine, settings.email, only=[message.key for message in messages])
    return queued


@task(name="alert the QA team to runs in trouble", **NOT_CACHED)
def alert_runs(settings: Settings) -> int:
    """The watch as a task of the watch-runs flow (see ``alert_runs_in_trouble``)."""
    sent = alert_runs_in_trouble(settings)
    get_run_logger().info("%d late or crashed run(s) alerted to the QA team.", sent)
    return sent


def alert_runs_in_trouble(settings: Settings, now: datetime | None = None) -> int:
    """Email the QA team about each qaloop run (tagged ``qaloop``) that is Late by more than
    ``alerts.late_after_minutes``, or that crashed in the last day (its process killed, so its own hook could
    not speak); each run is alerted once, a crash not again if its hook did. Returns how many new alerts were
    sent.

    Runs outside the worker (from cron or a timer), so it still speaks when the worker is down.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    now = now or datetime.now(UTC)
    limit = timedelta(minutes=settings.alerts.late_after_minutes)
    qaloop_runs = FlowRunFilterTags(all_=["qaloop"])
    late = FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"])), tags=qaloop_runs)
    crashed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])), tags=qaloop_runs
    )
    messages = []
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=late):
            started_by = run.expected_start_time
            if started_by is None or now - started_by < limit:
                continue
            minutes = int((now - started_by).total_seconds() // 60)
            flow_name = client.read_flow(run.flow_id).name
            messages.append(
                alerts.late_message(settings, flow_name, run.name, str(run.id), run_address(run.id), minutes)
            )
        for run in client.read_flow_runs(flow_run_filter=crashed):
            if run.state is None or now - run.state.timestamp > timedelta(days=1):
                continue
            flow_name = client.read_flow(run.flow_id).name
            why = f"The run crashed: {run.state.message or 'Prefect gave no reason'}."
            messages.append(
                alerts.failure_message(
                    settings, flow_name, run.name, str(run.id), run_address(run.id), why, crashed=True
                )
            )
    return send_now(settings, messages)
