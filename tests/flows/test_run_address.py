"""Where alert emails and `qaloop cycle run` send the QA team to see a run: the configured Prefect UI, else the
Prefect server this machine would start, on whatever port it is given; never a port written into qaloop."""

from __future__ import annotations

from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_API_PORT, PREFECT_UI_URL, temporary_settings

from tasks.alerts import run_address


def test_a_run_is_shown_at_the_configured_ui_or_at_the_local_servers_own_port() -> None:
    with temporary_settings({PREFECT_UI_URL: "https://prefect.council.example/"}):
        assert run_address("abc") == "https://prefect.council.example/runs/flow-run/abc"
    # No UI address and no API address (from which Prefect would derive one, as under the test harness).
    with temporary_settings({PREFECT_SERVER_API_PORT: 4321}, restore_defaults={PREFECT_UI_URL, PREFECT_API_URL}):
        assert run_address("abc") == "http://127.0.0.1:4321/runs/flow-run/abc"
