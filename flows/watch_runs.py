"""The watch-runs flow: on the server's own schedule (every ten minutes), email the QA team about each qaloop
run that has not started long after its time, or that crashed beyond its own hook's reach, once per run.

It runs on the worker, so it cannot speak when the worker itself is down: `qaloop watch-runs` from a timer on
another machine remains the watch of last resort (see the README's "Watching the runs")."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import dated_run_name
from tasks.alerts import alert_qa_team, alert_runs


class WatchRun(BaseModel):
    """What the run did."""

    alerted: int


@flow(
    name="watch-runs",
    flow_run_name=dated_run_name("watch"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def watch_runs(config: str | None = None) -> WatchRun:
    """Alert the QA team to the qaloop runs that are late or crashed, each once.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    return WatchRun(alerted=alert_runs(load_settings(config)))
