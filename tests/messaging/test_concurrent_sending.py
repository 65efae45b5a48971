"""Four senders at once on one store, on SQLite and PostgreSQL: two `qaloop send` processes and the two flows
that end by sending every working morning (ingest-returns and chase-deadlines, started together). Each claims
what it sends, so every queued message is delivered once; they share the relay's rate limit, so together they
send no faster than it allows; and each run's figure is what it sent itself, so the four add up."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.chase_deadlines import chase_deadlines
from flows.ingest_returns import ingest_returns
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import SmtpSink, write_config

PER_MINUTE = 2400
A_WORKING_MORNING = date(2027, 1, 6)


@pytest.mark.slow
def test_four_senders_at_once_deliver_every_message_once_within_the_shared_rate(
    prefect_harness: None, drawn: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    engine = engine_from(drawn)
    allocate_cycle(engine, drawn, "2026-09")
    notify_cycle(engine, drawn, "2026-09")
    config = write_config(drawn, tmp_path, smtp_server.port)
    config.write_text(config.read_text().replace("messages_per_minute: 60000", f"messages_per_minute: {PER_MINUTE}"))
    command = [sys.executable, "-c", "from cli.main import main; main()", "send", "--config", str(config)]
    senders = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    # The flows start once the senders are sending: on a busy machine a new process takes seconds to import
    # Prefect, and flows started at once could send everything before either sender was up.
    started = time.monotonic()
    while not smtp_server.messages and time.monotonic() - started < 120:
        time.sleep(0.05)
    flows: dict[str, int] = {}
    on = {"config": str(config), "today": A_WORKING_MORNING}
    runs = [
        threading.Thread(target=lambda: flows.update(ingest=ingest_returns(**on).emails_sent)),
        threading.Thread(target=lambda: flows.update(chase=chase_deadlines(**on).emails_sent)),
    ]
    for run in runs:
        run.start()
    outputs = [sender.communicate(timeout=180)[0] for sender in senders]
    for run in runs:
        run.join(timeout=180)
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    assert set(flows) == {"ingest", "chase"}

    with engine.connect() as connection:
        queued = connection.scalar(select(func.count()).select_from(models.EmailOutbox))
        sent = connection.scalar(select(func.count()).where(models.EmailOutbox.status == "sent"))
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert sent == queued == len(ids) == len(set(ids))  # everything queued (the chase's reminders too), once
    each = [int(re.search(r"(\d+) sent, 0 refused", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert all(each), outputs  # both processes took part
    assert sum(each) + flows["ingest"] + flows["chase"] == queued  # each counted only what it sent itself
    # The relay's limit is shared: the messages came no faster than it, whoever sent them (a little room for
    # the clock's grain).
    took = smtp_server.arrived[-1] - smtp_server.arrived[0]
    assert took >= 0.9 * (queued - 1) * 60 / PER_MINUTE, (took, queued)
