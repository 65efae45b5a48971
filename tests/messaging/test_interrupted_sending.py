"""Stopping the sender or the whole flow mid-batch (a real process, a real signal) and running it again:
every message is delivered once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import NEXT_CYCLE, SmtpSink, write_config


@pytest.mark.slow
def test_a_stopped_batch_resumes_without_sending_anything_twice(
    drawn: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    queued = notify_cycle(engine, drawn, "2026-09")
    config = write_config(drawn, tmp_path, smtp_server.port)
    command = [sys.executable, "-c", "from cli.main import main; main()", "send", "--config"]

    sender = subprocess.Popen(
        [*command, str(slowed(config))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while len(smtp_server.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.send_signal(signal.SIGTERM)
    output, _ = sender.communicate(timeout=60)
    assert sender.returncode == 1, output
    assert "Stopped on request" in output
    first_batch = len(smtp_server.messages)
    assert 20 <= first_batch < queued

    again = subprocess.run([*command, str(config)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{queued - first_batch} sent" in again.stdout
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == queued and len(set(ids)) == queued


def slowed(config: Path) -> Path:
    """``config`` sending 50 messages a second, so that a stop reliably lands in the middle of the batch."""
    slow = config.with_name("slowed.yaml")
    slow.write_text(config.read_text().replace("messages_per_minute: 60000", "messages_per_minute: 3000"))
    return slow


def _cycle_run(config: Path) -> list[str]:
    return [sys.executable, "-c", "from cli.main import main; main()", "cycle", "run", "--config", str(config)]


def _prefect_env() -> dict[str, str]:
    """The test's Prefect server for the child process, so its runs land where the test can see them."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}


def _stop_when_sending(flow: subprocess.Popen, smtp_server: SmtpSink, how: signal.Signals) -> int:
    deadline = time.monotonic() + 120
    while len(smtp_server.messages) < 20 and time.monotonic() < deadline and flow.poll() is None:
        time.sleep(0.05)
    flow.send_signal(how)
    flow.communicate(timeout=60)
    return len(smtp_server.messages)


# The whole flow in a child process costs about 20 s a run (most of it importing Prefect and Great
# Expectations), so this runs on SQLite only; the sender's own test above covers both databases.
@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
def test_a_cycle_stopped_while_sending_delivers_every_message_once_when_run_again(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path, how: signal.Signals
) -> None:
    config = write_config(county, tmp_path, smtp_server.port)
    on = ["--on", NEXT_CYCLE.isoformat()]
    flow = subprocess.Popen(
        [*_cycle_run(slowed(config)), *on],
        env=_prefect_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_batch = _stop_when_sending(flow, smtp_server, how)
    assert flow.returncode == -how
    with engine_from(county).connect() as connection:
        queued = connection.scalar(select(func.count()).select_from(models.EmailOutbox))
        recorded = connection.scalar(select(func.count()).where(models.EmailOutbox.status == "sent"))
    assert 20 <= first_batch < queued
    if how == signal.SIGTERM:
        assert recorded == first_batch  # stopped between two messages: the record matches the server
    else:
        assert first_batch - recorded in (0, 1)  # at most the one message in flight when the process died

    # Run again as the QA team would, in this process (the harness's server; no second import of Prefect).
    again = CliRunner().invoke(app, ["cycle", "run", "--config", str(config), *on])
    assert again.exit_code == 0, again.output
    assert "Prefect flow run" in again.output
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(set(ids)) == queued
    # A kill can catch one accepted message before its record: it goes again under the same Message-ID,
    # which the receiving server uses to drop the copy. A stop request never sends anything twice.
    assert len(ids) - queued == (0 if how == signal.SIGTERM else first_batch - recorded)


# The sending step in a flow of its own, in a child process: what `qaloop cycle run` does once it sends.
SEND_IN_A_FLOW = """
import sys
from prefect import flow
from qaloop.core.settings import load_settings
from tasks.notify import send_emails

@flow(name="sending-for-the-test")
def sending(config: str) -> None:
    send_emails(load_settings(config))

sending(sys.argv[1])
"""


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_stop_by_a_signal_the_process_was_started_ignoring_still_fails_the_run(
    prefect_harness: None, drawn: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    notify_cycle(engine, drawn, "2026-09")
    config = slowed(write_config(drawn, tmp_path, smtp_server.port))
    # A job a script starts in the background inherits SIGINT ignored: Python then installs no handler of its own.
    run = subprocess.Popen(
        [sys.executable, "-c", SEND_IN_A_FLOW, str(config)],
        env=_prefect_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(smtp_server.messages) < 20 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 1, output
    assert "Sending stopped on request (SIGINT)" in output
    with engine.connect() as connection:
        recorded = connection.scalar(select(func.count()).where(models.EmailOutbox.status == "sent"))
    assert recorded == len(smtp_server.messages)  # stopped between two messages, and not tried again
    with get_client(sync_client=True) as client:
        [state] = [
            flow_run.state.type.value
            for flow_run in client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["sending-for-the-test"]))
            )
        ]
    assert state == "FAILED"
