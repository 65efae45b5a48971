"""The QA team steering the programme in the Prefect UI, in headless Chromium driven by Playwright, against a
Prefect server with its UI and a process worker, as `make ui` runs them: a cycle paused for approval is
resumed from the address in its email with one case left out through the form; a service manager's decision
is run from its deployment's form; a report is one click away from its run's artifacts.

Screenshots of each step are kept in ``$QALOOP_TEST_ARTIFACTS/ui`` (default: var/test-artifacts/ui); the
README's come from here.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import CHROMIUM, CYCLE, NEXT_CYCLE, PROJECT, SmtpSink, write_config
from tests.prefect_server import PREFECT, api, deploy, prefect_server

pytestmark = [pytest.mark.browser, pytest.mark.prefect_server, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QALOOP_TEST_ARTIFACTS", PROJECT / "var" / "test-artifacts")) / "ui"
ONLY_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


class QuietFiles(SimpleHTTPRequestHandler):
    """Files served without a line per request on the test's output."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (the standard library's name)
        pass


@dataclass(frozen=True)
class Ui:
    """The server's address, and what a worker needs to reach it from the deployed project."""

    url: str
    env: dict[str, str]
    project: Path

    @property
    def api(self) -> str:
        return f"{self.url}/api"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """A Prefect server with its UI, the deployments the QA team uses here deployed to it (its scheduler off:
    no scheduled run is due during the test)."""
    with prefect_server(
        tmp_path_factory.mktemp("prefect"), PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false"
    ) as server:
        project = deploy(server, tmp_path_factory.mktemp("deploy"), "audit-cycle", "move-allocation", "cycle-report")
        yield Ui(url=server["PREFECT_UI_URL"], env=server, project=project)


@contextmanager
def worker(ui: Ui, **env: str) -> Iterator[None]:
    """A process worker of the ``qaloop`` pool, as `make ui` starts one, quick to pick runs up; stopped after."""
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "qaloop"],
        cwd=ui.project,
        env={**ui.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's chromium package"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def run_state(ui: Ui, run_id: str) -> str:
    return api("GET", f"{ui.api}/flow_runs/{run_id}")["state"]["type"]


def wait_for(ui: Ui, run_id: str, states: set[str], timeout: float = 180) -> str:
    """The run's state once it is one of ``states``; a run that ends otherwise fails the test with its message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api("GET", f"{ui.api}/flow_runs/{run_id}")["state"]
        if state["type"] in states:
            return state["type"]
        assert state["type"] not in {"FAILED", "CRASHED", "CANCELLED"}, state["message"]
        time.sleep(1)
    raise AssertionError(f"run {run_id} is still {state['type']} after {timeout:.0f} s, not {states}")


def runs_of(ui: Ui, deployment: str) -> list[dict]:
    return api("POST", f"{ui.api}/flow_runs/filter", {"deployments": {"name": {"any_": [deployment]}}})


def start_run(ui: Ui, deployment: str, parameters: dict) -> str:
    """A run of ``deployment`` created through the API, as the scheduler creates one."""
    found = api("GET", f"{ui.api}/deployments/name/{deployment}/{deployment}")
    return api("POST", f"{ui.api}/deployments/{found['id']}/create_flow_run", {"parameters": parameters})["id"]


def status_of(settings: Settings, case_ref: str) -> tuple[str, list[tuple]]:
    """A case's allocation status in the cycle, and its history (to status, who, why)."""
    allocation, case, event = models.Allocation, models.CaseRecord, models.AllocationEvent
    with engine_from(settings).connect() as connection:
        allocation_id, status = connection.execute(
            select(allocation.id, allocation.status)
            .join(case, case.id == allocation.case_id)
            .join(models.AuditCycle, models.AuditCycle.id == allocation.cycle_id)
            .where(case.case_ref == case_ref, models.AuditCycle.cycle_ref == CYCLE)
        ).one()
        history = connection.execute(
            select(event.to_status, event.actor, event.reason)
            .where(event.allocation_id == allocation_id)
            .order_by(event.id)
        ).all()
    return status, [tuple(row) for row in history]


def replaceable(settings: Settings, besides: str) -> str:
    """A notified case of the cycle whose stratum still has a reserve, and not the stratum of ``besides``."""
    allocation, case = models.Allocation, models.CaseRecord
    with engine_from(settings).connect() as connection:
        used = select(allocation.stratum).join(case, case.id == allocation.case_id).where(case.case_ref == besides)
        with_reserves = select(allocation.stratum).where(allocation.status == "reserve")
        return connection.scalars(
            select(case.case_ref)
            .join(allocation, allocation.case_id == case.id)
            .where(allocation.status == "notified", allocation.stratum.in_(with_reserves))
            .where(allocation.stratum.not_in(used))
            .order_by(case.case_ref)
        ).first()


def submit(page: Page, form: Locator) -> None:
    """The form's Submit pressed until the form closes: on a loaded machine the UI can miss a press made while it
    is still taking in the last field typed (seen once in a full run), as a person would press again. A form the
    server refused stays open with its message, which the screenshot keeps."""
    for attempt in range(3):
        form.get_by_role("button", name="Submit").click()
        try:
            form.wait_for(state="detached", timeout=10_000)
            return
        except PlaywrightTimeout:
            shot(page, f"form-still-open-{attempt + 1}")
    raise AssertionError(f"the form stayed open after three presses of Submit: {form.inner_text()[:2000]}")


def run_from_form(page: Page, ui: Ui, deployment: str, before: set[str]) -> dict:
    """The run a deployment's Custom run form starts, its Submit pressed until the server has a run of
    ``deployment`` not in ``before``: as with ``submit``, a loaded machine's UI can miss a press made while it is
    still taking in the last field typed (seen twice in CI), and a person would press again; never pressed again
    once a run exists, so the form starts one run."""
    for attempt in range(3):
        page.get_by_role("button", name="Submit").click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if new := [run for run in runs_of(ui, deployment) if run["id"] not in before]:
                [started] = new
                return started
            time.sleep(0.5)
        shot(page, f"run-form-not-submitted-{attempt + 1}")
    raise AssertionError(f"the {deployment} form started no run after three presses of Submit")


def text_field(page: Page, label: str) -> Locator:
    """The text box of a form's field, found by the label the form shows for it."""
    name = page.locator(".schema-form-property__label", has_text=re.compile(rf"^{re.escape(label)}( \(Optional\))?$"))
    return page.locator(".p-label.schema-form-property", has=name).locator("textarea").first


@ONLY_SQLITE
def test_the_qa_team_approves_a_cycle_and_a_manager_moves_a_case_from_the_ui(
    ui: Ui, page: Page, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    config = str(write_config(county, tmp_path, smtp_server.port))
    with worker(ui, QALOOP_CONFIG=config):
        run_id = start_run(ui, "audit-cycle", {"selection_date": NEXT_CYCLE.isoformat(), "approval": True})
        wait_for(ui, run_id, {"PAUSED"})
        # The QA team follows the address in the email that says the cycle waits for them.
        deadline = time.monotonic() + 30
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.5)
        [asked] = smtp_server.messages
        address = re.search(r"http://\S+/runs/flow-run/\S+", asked.get_body(("plain",)).get_content()).group(0)
        assert address == f"{ui.url}/runs/flow-run/{run_id}"
        sample = api("GET", f"{ui.api}/artifacts/cycle-{CYCLE}-sample-to-approve/latest")
        excluded = next(row["case_ref"] for row in json.loads(sample["data"]) if row["first_reserve"])

        # The run shows the drawn sample, each case with its stratum, worker, why it was drawn and its reserve.
        page.goto(address)
        page.get_by_text("Artifacts", exact=True).click()
        page.get_by_text(f"cycle-{CYCLE}-sample-to-approve", exact=True).click()
        page.get_by_text(excluded, exact=True).first.wait_for()
        shot(page, "sample-to-approve")
        page.goto(address)
        page.get_by_role("button", name="Resume").first.click()
        form = page.locator(".p-modal__card")
        form.get_by_role("button", name="Add item").click()
        form.locator(".p-select-button__control").click()
        page.keyboard.press("ArrowDown")  # the case references are a list to choose from, with a search
        page.locator(".p-pop-over-content input[type=search]").fill(excluded)
        page.get_by_role("option", name=excluded, exact=True).click()
        # Left out without a reason: the form refuses it, and the run stays paused.
        form.get_by_role("button", name="Submit").click()
        form.get_by_text("'reason' is a required property").wait_for()
        assert run_state(ui, run_id) == "PAUSED"
        text_field(page, "Reason").fill("case closed before the cycle")
        text_field(page, "Approved By").fill("QA lead")
        shot(page, "approval-form")
        submit(page, form)
        wait_for(ui, run_id, {"COMPLETED"})
        status, history = status_of(county, excluded)
        assert status == "replaced" and history[-1][1:] == ("QA lead", "case closed before the cycle")

        # A service manager's decision, from the move-allocation deployment's form.
        moved = replaceable(county, besides=excluded)
        before = {run["id"] for run in runs_of(ui, "move-allocation")}
        found = api("GET", f"{ui.api}/deployments/name/move-allocation/move-allocation")
        page.goto(f"{ui.url}/deployments/deployment/{found['id']}/run")
        text_field(page, "cycle_ref").fill(CYCLE)
        text_field(page, "case_ref").fill(moved)
        text_field(page, "reason").fill("the auditor supervised the worker")
        text_field(page, "decided_by").fill("SM0004")
        shot(page, "move-allocation-form")
        decision = run_from_form(page, ui, "move-allocation", before)
        wait_for(ui, decision["id"], {"COMPLETED"})
    status, history = status_of(county, moved)
    assert status == "replaced" and history[-1][1:] == ("SM0004", "the auditor supervised the worker")


@ONLY_SQLITE
def test_a_report_is_one_click_from_its_run_in_the_ui(
    ui: Ui, page: Page, closed: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    # The output folder published by a web server, as a council publishes it on its intranet.
    files = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFiles, directory=str(closed.output_dir)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    link_base = f"http://127.0.0.1:{files.server_port}"
    config = write_config(closed, tmp_path, smtp_server.port)
    try:
        with worker(ui, QALOOP_REPORTS__LINK_BASE=link_base):
            run_id = start_run(
                ui, "cycle-report", {"config": str(config), "cycle_ref": CYCLE, "today": date.today().isoformat()}
            )
            wait_for(ui, run_id, {"COMPLETED"})
        page.goto(f"{ui.url}/runs/flow-run/{run_id}")
        page.get_by_text("Artifacts", exact=True).click()
        page.get_by_text(f"cycle-report-{CYCLE}", exact=True).click()  # the run's headline figures, with the links
        link = page.get_by_role("link", name=re.compile(rf"quality assurance summary, cycle {CYCLE}$"))
        link.wait_for()
        shot(page, "report-links")
        if link.get_attribute("target") == "_blank":
            with page.context.expect_page() as opened:
                link.click()
            report = opened.value
        else:
            link.click()
            report = page
        report.wait_for_load_state()
        assert report.url == f"{link_base}/cycles/{CYCLE}/reports/summary-{CYCLE}.html"
        assert CYCLE in report.title()
        shot(report, "report")
    finally:
        files.shutdown()
