"""prefect.yaml deployed to a real local Prefect server: the scheduler creates the audit-cycle runs where
the calendar says, six weeks apart, at the configured hour in London on both sides of a clock change; and
ingest-returns and chase-deadlines on weekday mornings and working hours in London, triangulation on the 4th
of each month and cycle-report each working morning.

This would catch a Prefect server whose scheduler is broken (as with SQLAlchemy 2.1), which running flows
by hand never shows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from qaloop.settings import load_settings
from tests.conftest import DEMO_CONFIG, PROJECT

RUNS = 8


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A Prefect server in its own process and home, its scheduler quick and looking a year ahead."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "24",  # two working days of hourly ingest-returns runs
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P400D",
    }
    prefect = str(Path(sys.executable).parent / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not start (it stopped, or took over 90 s)")
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_next_eight_cycles_are_scheduled_six_weeks_apart_at_seven_in_london(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    prefect = str(Path(sys.executable).parent / "prefect")
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".venv", ".git", "var", "output", "*.pyc"))
    for command in (
        [prefect, "work-pool", "create", "qaloop", "--type", "process"],
        [prefect, "--no-prompt", "deploy", "--all"],
    ):
        done = subprocess.run(command, cwd=project, env=prefect_server, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    api = prefect_server["PREFECT_API_URL"]
    calendar = load_settings(DEMO_CONFIG).calendar
    london = ZoneInfo(calendar.timezone)
    starts = scheduled_starts(api, "audit-cycle", london)[:RUNS]
    assert all(start.time() == calendar.run_at for start in starts)
    assert all((start.date() - calendar.anchor).days % (7 * calendar.cadence_weeks) == 0 for start in starts)
    assert all(later - earlier == timedelta(weeks=6) for earlier, later in zip(starts, starts[1:], strict=False))
    # Both sides of a clock change: winter runs are at 07:00 GMT, summer ones at 07:00 BST (06:00 UTC).
    offsets = {start.utcoffset() for start in starts}
    assert offsets == {timedelta(0), timedelta(hours=1)}

    chases = scheduled_starts(api, "chase-deadlines", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(8) for start in chases)
    ingests = scheduled_starts(api, "ingest-returns", london, at_least=22)  # two working days' worth
    assert all(start.weekday() < 5 and 8 <= start.hour <= 18 and start.minute == 0 for start in ingests)
    assert {start.hour for start in ingests} == set(range(8, 19))
    months = scheduled_starts(api, "triangulation", london)
    assert all(start.day == 4 and start.time() == dt_time(7) for start in months)
    assert len({(start.year, start.month) for start in months}) == len(months)
    reports = scheduled_starts(api, "cycle-report", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(7, 45) for start in reports)


def scheduled_starts(api: str, deployment: str, zone: ZoneInfo, at_least: int = RUNS) -> list[datetime]:
    """The expected starts of a deployment's scheduled runs, in ``zone``, once the scheduler has made enough."""
    runs: list[dict] = []
    deadline = time.monotonic() + 60
    while len(runs) < at_least and time.monotonic() < deadline:
        time.sleep(1)
        reply = httpx.post(
            f"{api}/flow_runs/filter",
            json={
                "sort": "EXPECTED_START_TIME_ASC",
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "deployments": {"name": {"any_": [deployment]}},
            },
            timeout=10,
        )
        runs = reply.json()
    assert len(runs) >= at_least, f"the scheduler created {len(runs)} {deployment} run(s)"
    return [datetime.fromisoformat(run["expected_start_time"]).astimezone(zone) for run in runs]
