"""prefect.yaml deployed to a real local Prefect server: the scheduler creates the audit-cycle runs where
the calendar says, six weeks apart, at the configured hour in London on both sides of a clock change; and
ingest-returns and chase-deadlines on weekday mornings and working hours in London, triangulation on the 4th
of each month and cycle-report each working morning. And the deep-dive deployment's trigger: a concern event
starts exactly one deep dive with the concern's request, the same concern again starts none, and `qaloop
deep-dive` starts a run through the API; and a major concern about a provider, raised by the provider run,
starts one provider-urgent-review run of it.

This would catch a Prefect server whose scheduler is broken (as with SQLAlchemy 2.1), which running flows
by hand never shows.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from qaloop.core.settings import Settings, load_settings
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import DEMO_CONFIG, SmtpSink, write_config
from tests.prefect_server import api, deploy, prefect_server
from tests.providers.market import CANCEL_NOTICE, with_market

RUNS = 8
pytestmark = pytest.mark.prefect_server


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every deployment in prefect.yaml, with its schedules and triggers, deployed to a server of the module's
    own whose scheduler is quick and looks a year ahead, and the forms filled with the configuration's lists."""
    with prefect_server(
        tmp_path_factory.mktemp("prefect"),
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1",
        PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS="1",
        PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS="24",  # two working days of hourly ingest-returns runs
        PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME="P400D",
    ) as server:
        deploy(server, tmp_path_factory.mktemp("deploy"))
        filled = qaloop_here(server, "forms", "--config", str(DEMO_CONFIG))  # as `make ui` does after deploying
        assert filled.exit_code == 0, filled.output
        yield server


def test_the_next_eight_cycles_are_scheduled_six_weeks_apart_at_seven_in_london(deployed: dict[str, str]) -> None:
    api_url = deployed["PREFECT_API_URL"]
    calendar = load_settings(DEMO_CONFIG).calendar
    london = ZoneInfo(calendar.timezone)
    starts = scheduled_starts(api_url, "audit-cycle", london)[:RUNS]
    assert all(start.time() == calendar.run_at for start in starts)
    assert all((start.date() - calendar.anchor).days % (7 * calendar.cadence_weeks) == 0 for start in starts)
    assert all(later - earlier == timedelta(weeks=6) for earlier, later in zip(starts, starts[1:], strict=False))
    # Both sides of a clock change: winter runs are at 07:00 GMT, summer ones at 07:00 BST (06:00 UTC).
    offsets = {start.utcoffset() for start in starts}
    assert offsets == {timedelta(0), timedelta(hours=1)}

    chases = scheduled_starts(api_url, "chase-deadlines", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(8) for start in chases)
    ingests = scheduled_starts(api_url, "ingest-returns", london, at_least=22)  # two working days' worth
    assert all(start.weekday() < 5 and 8 <= start.hour <= 18 and start.minute == 0 for start in ingests)
    assert {start.hour for start in ingests} == set(range(8, 19))
    months = scheduled_starts(api_url, "triangulation", london)
    assert all(start.day == 4 and start.time() == dt_time(7) for start in months)
    assert len({(start.year, start.month) for start in months}) == len(months)
    reports = scheduled_starts(api_url, "cycle-report", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(7, 45) for start in reports)
    provider_chases = scheduled_starts(api_url, "provider-chasing", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(8, 15) for start in provider_chases)
    packs = scheduled_starts(api_url, "provider-review-pack", london)
    assert all(start.weekday() < 5 and start.time() == dt_time(7, 30) for start in packs)


def scheduled_starts(api_url: str, deployment: str, zone: ZoneInfo, at_least: int = RUNS) -> list[datetime]:
    """The expected starts of a deployment's scheduled runs, in ``zone``, once the scheduler has made enough."""
    runs: list[dict] = []
    deadline = time.monotonic() + 60
    while len(runs) < at_least and time.monotonic() < deadline:
        time.sleep(1)
        runs = api(
            "POST",
            f"{api_url}/flow_runs/filter",
            {
                "sort": "EXPECTED_START_TIME_ASC",
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "deployments": {"name": {"any_": [deployment]}},
            },
        )
    assert len(runs) >= at_least, f"the scheduler created {len(runs)} {deployment} run(s)"
    return [datetime.fromisoformat(run["expected_start_time"]).astimezone(zone) for run in runs]


CONCERN = "demo-county.stratum.NE.mca_assessment"
REQUEST = {
    "theme": "Mental Capacity Act assessment in North East",
    "reason": "cycle 2026-09: 3 of 10 Mental Capacity Act assessment audits in North East good or better",
    "audit_types": ["mca_assessment"],
    "areas": ["NE"],
    "sample_size": 20,
    "concern": CONCERN,
}


def emit_concern(api_url: str, concern: str, request: dict) -> None:
    """A ``qaloop.concern.detected`` event, as the cycle report emits it, sent to the server."""
    payload = {"authority": "demo-county", "cycle_ref": "2026-09", "kind": "stratum", "request": request}
    event = {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "qaloop.concern.detected",
        "resource": {"prefect.resource.id": f"qaloop.concern.{concern}"},
        "payload": payload,
    }
    api("POST", f"{api_url}/events", [event])


def deep_dive_runs(api_url: str, at_least: int, wait: float = 60) -> list[dict]:
    """The deep-dive deployment's flow runs, once there are ``at_least`` (or after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        runs = api("POST", f"{api_url}/flow_runs/filter", {"deployments": {"name": {"any_": ["deep-dive"]}}})
        if len(runs) >= at_least or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def test_a_concern_starts_exactly_one_deep_dive_with_its_request(deployed: dict[str, str]) -> None:
    api_url = deployed["PREFECT_API_URL"]
    deployment = api("GET", f"{api_url}/deployments/name/deep-dive/deep-dive")
    form = deployment["parameter_openapi_schema"]["definitions"]["DeepDiveRequest"]["properties"]
    assert {"theme", "audit_types", "areas", "teams", "activity_from", "activity_to", "question", "sample_size",
            "due_date", "allow_reaudit"} <= set(form)  # fmt: skip

    automations = api("POST", f"{api_url}/automations/filter", {})  # what the UI's Automations page lists
    assert "A cycle report's concern starts one deep dive of similar cases" in {a["name"] for a in automations}

    emit_concern(api_url, CONCERN, REQUEST)
    [run] = deep_dive_runs(api_url, 1)
    assert run["parameters"]["request"] == REQUEST

    emit_concern(api_url, CONCERN, REQUEST)  # the same concern again, while its deep dive runs
    other = "demo-county.question.safeguarding.V1"
    emit_concern(api_url, other, REQUEST | {"theme": "safeguarding V1", "concern": other, "areas": []})
    # The server reads events in order: once the other concern's run exists, the repeat before it has been
    # judged too. A few seconds more give a wrongly started third run time to show.
    deadline = time.monotonic() + 60
    while other not in {r["parameters"]["request"]["concern"] for r in deep_dive_runs(api_url, 0, wait=0)}:
        assert time.monotonic() < deadline, "the other concern started no deep dive"
        time.sleep(1)
    time.sleep(3)
    runs = deep_dive_runs(api_url, 3, wait=0)
    assert sorted(r["parameters"]["request"]["concern"] for r in runs) == sorted([CONCERN, other])


def test_qaloop_deep_dive_starts_a_run_of_the_deployment_and_prints_where_to_see_it(deployed: dict[str, str]) -> None:
    qaloop = str(Path(sys.executable).parent / "qaloop")
    before = {run["id"] for run in deep_dive_runs(deployed["PREFECT_API_URL"], 0, wait=0)}
    done = subprocess.run(
        [qaloop, "deep-dive", "--config", str(DEMO_CONFIG), "--theme", "Hospital discharge reviews",
         "--type", "care_act_review", "--area", "NE", "--size", "12", "--reason", "asked for by operations"],
        env=deployed, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [new] = [run for run in deep_dive_runs(deployed["PREFECT_API_URL"], len(before) + 1) if run["id"] not in before]
    assert f"/runs/flow-run/{new['id']}" in done.stdout
    request = new["parameters"]["request"]
    assert (request["theme"], request["audit_types"], request["areas"], request["sample_size"]) == (
        "Hospital discharge reviews",
        ["care_act_review"],
        ["NE"],
        12,
    )
    refused = qaloop_here(
        deployed, "deep-dive", "--config", str(DEMO_CONFIG), "--theme", "Nowhere", "--area", "ATLANTIS"
    )
    assert refused.exit_code == 1 and "area 'ATLANTIS' is not one of" in refused.output


def qaloop_here(server: dict[str, str], *args: str) -> Result:
    """A qaloop command run in this process against the module's server (a child process would spend
    seconds importing Prefect again; the one in the test above shows the installed command works)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}):
        return CliRunner().invoke(app, list(args))


def test_a_run_long_past_its_time_or_crashed_is_alerted_to_the_qa_team_once(
    deployed: dict[str, str], settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    upgrade(engine_from(settings))
    config = str(write_config(settings, tmp_path, smtp_server.port))
    api_url = deployed["PREFECT_API_URL"]
    deployment = api("GET", f"{api_url}/deployments/name/chase-deadlines/chase-deadlines")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    run = api(
        "POST",
        f"{api_url}/deployments/{deployment['id']}/create_flow_run",
        {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": two_hours_ago}}},
    )
    deadline = time.monotonic() + 60  # the server marks it Late (no worker is running)
    while api("GET", f"{api_url}/flow_runs/{run['id']}")["state"]["name"] != "Late":
        assert time.monotonic() < deadline, "the server never marked the run Late"
        time.sleep(1)
    # A run whose process was killed outright: the worker marks it Crashed, and its own hook never ran.
    returns = api("GET", f"{api_url}/deployments/name/ingest-returns/ingest-returns")
    killed = api("POST", f"{api_url}/deployments/{returns['id']}/create_flow_run", {"state": {"type": "RUNNING"}})
    crash = {"type": "CRASHED", "message": "Flow run infrastructure exited with non-zero status code -9."}
    api("POST", f"{api_url}/flow_runs/{killed['id']}/set_state", {"state": crash, "force": True})
    # The server's own watch (the watch-runs deployment's flow, run here against the server) alerts both; the
    # command for a timer elsewhere then finds nothing new.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.watch_runs import watch_runs

    with temporary_settings({PREFECT_API_URL: api_url}):
        assert watch_runs(config=config).alerted == 2
    again = qaloop_here(deployed, "watch-runs", "--config", config)
    assert again.exit_code == 0, again.output
    assert "No run is late or crashed." in again.output
    late, crashed = sorted(smtp_server.messages, key=lambda m: "crashed" in m.get_body(("plain",)).get_content())
    # (the deep dives started above are late by seconds only)
    assert late["Subject"] == f"qaloop: the chase-deadlines run {run['name']} has not started"
    body = late.get_body(("plain",)).get_content()
    assert "due to start 1" in body and "the worker is not running" in body
    assert f"/runs/flow-run/{run['id']}" in body
    assert crashed["Subject"] == f"qaloop: the ingest-returns run {killed['name']} crashed"
    assert "exited with non-zero status code -9" in crashed.get_body(("plain",)).get_content()


def urgent_review_runs(api_url: str, at_least: int, wait: float = 60) -> list[dict]:
    """The provider-urgent-review deployment's flow runs, once there are ``at_least`` (or after ``wait`` s)."""
    deadline = time.monotonic() + wait
    while True:
        filter_ = {"deployments": {"name": {"any_": ["provider-urgent-review"]}}}
        runs = api("POST", f"{api_url}/flow_runs/filter", filter_)
        if len(runs) >= at_least or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def test_a_major_concern_about_a_provider_starts_one_urgent_review_run_of_it(
    deployed: dict[str, str], settings: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.provider_intelligence import provider_intelligence

    market = with_market(settings, tmp_path, CANCEL_NOTICE)
    upgrade(engine_from(market))
    config = str(write_config(market, tmp_path, smtp_server.port))
    api_url = deployed["PREFECT_API_URL"]
    automations = api("POST", f"{api_url}/automations/filter", {})
    assert "A major concern about a provider starts its urgent review" in {a["name"] for a in automations}
    # The process's events worker is started once and sends to the server it was started under: one an earlier
    # test's flows started would take these events elsewhere. Stopped, it starts again under this server.
    EventsWorker.drain_all(timeout=30, at_exit=False)
    with temporary_settings({PREFECT_API_URL: api_url}):
        assert provider_intelligence(config=config, today=date(2026, 11, 28)).urgent == [
            "1-1004 concern SG-9", "1-1005 cqc_enforcement ENF-2",
        ]  # fmt: skip
        # The next run finds both reviews not yet sent (no worker runs them here) and raises the events again:
        # within the day, the trigger starts no other run.
        assert provider_intelligence(config=config, today=date(2026, 11, 30)).urgent == []
        EventsWorker.drain_all(timeout=30, at_exit=False)  # every event sent before the server is asked
    urgent_review_runs(api_url, 2)
    time.sleep(3)  # time for a wrongly started third run to show
    runs = urgent_review_runs(api_url, 2, wait=0)
    started = [(r["parameters"]["location_id"], r["parameters"]["cause"], r["parameters"]["cause_ref"]) for r in runs]
    assert sorted(started) == [
        ("1-1004", "concern", "SG-9"), ("1-1005", "cqc_enforcement", "ENF-2"),
    ]  # fmt: skip


def test_the_deep_dive_form_offers_the_configurations_lists_and_the_server_refuses_anything_else(
    deployed: dict[str, str],
) -> None:
    api_url = deployed["PREFECT_API_URL"]
    settings = load_settings(DEMO_CONFIG)
    deployment = api("GET", f"{api_url}/deployments/name/deep-dive/deep-dive")
    form = deployment["parameter_openapi_schema"]["definitions"]["DeepDiveRequest"]["properties"]
    labels = [audit_type.label for audit_type in settings.audit_types]
    assert form["audit_types"]["items"]["enum"] == labels + [audit_type.id for audit_type in settings.audit_types]
    assert "North East" in form["areas"]["items"]["enum"] and "NE" in form["areas"]["items"]["enum"]
    before = len(deep_dive_runs(api_url, 0, wait=0))
    create = f"{api_url}/deployments/{deployment['id']}/create_flow_run"
    unknown = {"theme": "Underwater basket weaving", "audit_types": ["Underwater basket weaving"]}
    refused = httpx.post(create, json={"parameters": {"request": unknown}}, timeout=10)
    assert refused.status_code == 409 and "Underwater basket weaving" in refused.text, refused.text
    assert len(deep_dive_runs(api_url, 0, wait=0)) == before  # refused before any run exists
    known = {"theme": "Hospital discharge", "audit_types": ["Care Act review"], "areas": ["North East"]}
    accepted = api("POST", create, {"parameters": {"request": known}})
    assert accepted["parameters"]["request"]["audit_types"] == ["Care Act review"]
    refilled = qaloop_here(deployed, "forms", "--config", str(DEMO_CONFIG))  # again: the same lists, once each
    assert refilled.exit_code == 0 and f"offers {2 * len(labels)} audit type choices" in refilled.output
