"""prefect.yaml: every entry point imports as a flow, and the schedules agree with the configuration."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect import Flow

from qaloop.core.settings import load_settings
from tests.conftest import DEMO_CONFIG, PROJECT

DEPLOYMENTS = yaml.safe_load((PROJECT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_every_entry_point_is_a_flow_of_the_same_name(deployment: dict) -> None:
    path, name = deployment["entrypoint"].split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    assert isinstance(flow, Flow)
    assert flow.name == deployment["name"]
    assert set(deployment["parameters"]) <= set(flow.parameters.properties)


def test_the_audit_cycle_schedule_is_the_configured_calendar() -> None:
    calendar = load_settings(DEMO_CONFIG).calendar
    [schedule] = next(d for d in DEPLOYMENTS if d["name"] == "audit-cycle")["schedules"]
    assert schedule["interval"] == timedelta(weeks=calendar.cadence_weeks).total_seconds()
    assert schedule["timezone"] == calendar.timezone
    anchor = datetime.fromisoformat(schedule["anchor_date"]).astimezone(ZoneInfo(calendar.timezone))
    assert anchor.date() == calendar.anchor and anchor.time() == calendar.run_at


def test_the_concern_trigger_and_the_store_remember_a_concern_for_the_same_window() -> None:
    [trigger] = next(d for d in DEPLOYMENTS if d["name"] == "deep-dive")["triggers"]
    assert trigger["within"] == load_settings(DEMO_CONFIG).deep_dives.concern_window_days * 24 * 3600
