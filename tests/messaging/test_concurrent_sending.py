"""Two senders at once on one store (two `qaloop send` processes, as when two flows that end by sending start
together), on SQLite and PostgreSQL: each claims what it sends, so every queued message is delivered once, and
they share the relay's rate limit, so together they send no faster than it allows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.settings import Settings
from qaloop.store.engine import engine_from
from tests.conftest import SmtpSink, write_config

PER_MINUTE = 2400


@pytest.mark.slow
def test_two_senders_at_once_deliver_every_message_once(drawn: Settings, smtp_server: SmtpSink, tmp_path: Path) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    queued = notify_cycle(engine, drawn, "2026-09")
    config = write_config(drawn, tmp_path, smtp_server.port)
    config.write_text(
        config.read_text().replace("messages_per_minute: 60000", f"messages_per_minute: {PER_MINUTE}")
    )  # both busy at once
    command = [sys.executable, "-c", "from cli.main import main; main()", "send", "--config", str(config)]
    senders = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [sender.communicate(timeout=180)[0] for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    each = [int(re.search(r"(\d+) sent, 0 refused", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert sum(each) == queued and all(each), outputs  # both took part, neither sent what the other did
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == queued and len(set(ids)) == queued
    # The relay's limit is shared: the messages came no faster than it, whichever sender sent them (a little
    # room for the clock's grain).
    took = smtp_server.arrived[-1] - smtp_server.arrived[0]
    assert took >= 0.9 * (queued - 1) * 60 / PER_MINUTE, (took, queued)
