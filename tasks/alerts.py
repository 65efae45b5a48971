"""The failure hook every flow carries: a failed run emails the QA team once, with its UI address."""

from __future__ import annotations

from typing import Any

from prefect.logging import get_logger
from prefect.settings import PREFECT_UI_URL

from qaloop import alerts, outbox, store
from qaloop.settings import ConfigError, load_settings

LOCAL_UI = "http://127.0.0.1:4200"


def run_address(run_id: object) -> str:
    """Where the Prefect UI shows a flow run (the local `make ui` server when no UI address is set)."""
    return f"{(PREFECT_UI_URL.value() or LOCAL_UI).rstrip('/')}/runs/flow-run/{run_id}"


def alert_qa_team(flow: Any, flow_run: Any, state: Any) -> None:
    """Queue the failure alert for this run and send what is queued; if the mail server is the trouble, the
    alert stays queued for the next run that sends."""
    logger = get_logger("qaloop.alerts")
    try:
        settings = load_settings(flow_run.parameters.get("config"))
    except ConfigError as error:
        logger.error("No alert sent: the configuration cannot be read: %s", error)
        return
    engine = store.engine_from(settings)
    message = alerts.failure_message(
        settings, flow.name, flow_run.name, str(flow_run.id), run_address(flow_run.id), state.message or ""
    )
    outbox.enqueue(engine, [message])
    try:
        outbox.send_queued(engine, settings.email)
    except OSError as error:
        logger.error("The failure alert stays queued: the mail server could not be reached: %s", error)
