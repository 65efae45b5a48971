"""Two runs queueing one cycle's emails at once (two `qaloop cycle notify`, as when two overlapping runs of the
audit-cycle flow reach the same step), on SQLite and PostgreSQL: both finish, every message is queued once,
each allocation is marked notified once, and every workbook attached is whole."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qaloop.core.settings import Settings
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import write_config


@pytest.mark.slow
def test_two_runs_queueing_one_cycle_at_once_queue_each_message_once(allocated: Settings, tmp_path: Path) -> None:
    config = write_config(allocated, tmp_path)
    command = [sys.executable, "-c", "from cli.main import main; main()", "cycle", "notify", "2026-09"]
    runs = [
        subprocess.Popen(
            [*command, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    engine = engine_from(allocated)
    with engine.connect() as connection:
        queued = connection.scalar(select(func.count()).select_from(models.EmailOutbox))
        notified = connection.execute(
            select(models.AllocationEvent.allocation_id, func.count())
            .where(models.AllocationEvent.to_status == "notified")
            .group_by(models.AllocationEvent.allocation_id)
        ).all()
        attachments = connection.scalars(select(models.EmailOutbox.attachments)).all()
    assert notified and {count for _, count in notified} == {1}  # one history row each, whoever moved it
    each = [int(re.search(r"(\d+) message\(s\) queued", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert sum(each) == queued, outputs  # each run counts only what it queued itself
    for path in {path for paths in attachments for path in paths}:
        load_workbook(path).close()  # written whole, never one run's half over the other's
