"""Two runs filing the drop folder at once (the hourly ingest-returns flow and a `qaloop returns ingest`
started by hand), on SQLite and PostgreSQL: each file is claimed by one run, filed once, moved once, and both
runs finish without an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qaloop.core.settings import Settings
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import write_config
from tests.returns.test_filing import DONE, TODAY, sent_workbooks

# One run of the filing step over the drop folder, in a process of its own; it prints what it filed.
FILE_THE_DROP_FOLDER = """
import json, sys
from datetime import date
from checks.returns import check_return_file
from qaloop.core.settings import load_settings
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.reading import inbox_files
from qaloop.store.engine import engine_from
settings, today = load_settings(sys.argv[1]), date.fromisoformat(sys.argv[2])
outcomes = ingest_files(engine_from(settings), settings, inbox_files(settings), today, check_return_file, follow_up)
print(json.dumps([[o.name, o.status, o.filed] for o in outcomes]))
"""


@pytest.mark.slow
def test_two_runs_filing_at_once_file_each_return_once(notified: Settings, tmp_path: Path) -> None:
    sent = sent_workbooks(notified)[:24]
    for number, workbook in enumerate(sent):
        complete_audit_workbook(
            workbook, notified.returns.inbox / f"return {number}.xlsx", grade="Good", completed_on=DONE
        )
    config = write_config(notified, tmp_path)
    command = [sys.executable, "-c", FILE_THE_DROP_FOLDER, str(config), TODAY.isoformat()]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in results]

    handled = [row for out, _ in results for row in json.loads(out.splitlines()[-1])]
    assert sorted(name for name, _, _ in handled) == sorted(f"return {n}.xlsx" for n in range(len(sent)))
    assert {status for _, status, _ in handled} == {"processed"}
    assert sorted(ref for _, _, filed in handled for ref in filed) == sorted(w.name.split(" ")[0] for w in sent)
    processed = list(notified.returns.processed.rglob("*.xlsx"))
    assert len(processed) == len(sent) and not list(notified.returns.inbox.glob("*.xlsx"))  # moved once each
    with engine_from(notified).connect() as connection:
        returns = connection.scalar(
            select(func.count()).select_from(models.AuditReturn).where(models.AuditReturn.source_file_id.is_not(None))
        )
        files = connection.scalar(
            select(func.count()).select_from(models.SourceFile).where(models.SourceFile.dataset == "audit_returns")
        )
        feedback = connection.scalar(
            select(func.count()).select_from(models.EmailOutbox).where(models.EmailOutbox.kind == "feedback")
        )
    assert returns == files == feedback == len(sent)
