"""Stopping the sender mid-batch (a real process, a real signal) and running it again sends each message once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from qaloop.allocation_record import allocate_cycle
from qaloop.cycle_messages import notify_cycle
from qaloop.settings import Settings
from qaloop.store import engine_from
from tests.conftest import SmtpSink, write_config


def test_a_stopped_batch_resumes_without_sending_anything_twice(
    drawn: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    queued = notify_cycle(engine, drawn, "2026-09")
    config = write_config(drawn, tmp_path, smtp_server.port)
    config.write_text(config.read_text().replace("messages_per_minute: 60000", "messages_per_minute: 1200"))
    command = [sys.executable, "-c", "from qaloop.cli import app; app()", "send", "--config", str(config)]

    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while len(smtp_server.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.send_signal(signal.SIGTERM)
    output, _ = sender.communicate(timeout=60)
    assert sender.returncode == 1, output
    assert "Stopped on request" in output
    first_batch = len(smtp_server.messages)
    assert 20 <= first_batch < queued

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{queued - first_batch} sent" in again.stdout
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == queued and len(set(ids)) == queued
