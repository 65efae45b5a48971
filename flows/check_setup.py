"""The check-setup flow: from its form in the Prefect UI, check the configured sources as the next cycle would
take them, and draw and allocate it in a scratch store, writing nothing to the store (the twin of `qaloop
check`)."""

from __future__ import annotations

from datetime import date

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import run_name
from tasks.alerts import alert_qa_team
from tasks.setup import check_setup as check


class SetupChecked(BaseModel):
    """Whether the next cycle would run, and what was found."""

    would_run: bool
    found: str


@flow(
    name="check-setup",
    flow_run_name=run_name(lambda settings: f"{settings.authority.code} check the setup"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def check_setup(on: date | None = None, config: str | None = None) -> SetupChecked:
    """Check the setup as the next cycle would take it.

    Args:
        on: check the cycle due on or after this day (default: the next)
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
    """
    would_run, found = check(load_settings(config), on)
    return SetupChecked(would_run=would_run, found=found)
