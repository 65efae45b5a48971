"""The qaloop command line as a QA officer runs it: set up, write the demo authority, load, check."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from checks.extracts import check_and_load_extracts
from cli.main import app
from qaloop.core.schema import PROVIDER_INTELLIGENCE
from qaloop.core.settings import load_settings
from qaloop.demo.synthetic import PAST_CYCLES
from qaloop.messaging import outbox
from qaloop.messaging.outbox import Message, enqueue
from qaloop.programmes.cycle_record import selection_inputs
from qaloop.store import models
from qaloop.store.engine import engine_from
from tests.conftest import DEMO_CONFIG, SmtpSink, settings_in, write_config
from tests.providers.market import with_market

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, store_url: str, smtp_server: SmtpSink) -> Path:
    """The demo config copied to a temporary folder, its store on each database, mail to the test server."""
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database_url"] = store_url
    data["email"]["smtp_port"] = smtp_server.port
    path = tmp_path / "qaloop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_set_up_write_and_load_the_demo_authority(config: Path) -> None:
    code, out = run("load", "--config", str(config))
    assert code == 1 and "run `qaloop init-db` first" in out

    code, out = run("init-db", "--config", str(config))
    assert code == 0 and "migrated from empty to" in out
    code, out = run("init-db", "--config", str(config))
    assert code == 0 and "up to date" in out
    code, out = run("load", "audit_returns", "--config", str(config))
    assert code == 2 and "comes through the drop folder" in out

    code, out = run("demo-data", "--config", str(config), "--cases", "2000", "--as-of", "2026-11-22")
    assert code == 0 and (config.parent / "var" / "extracts" / "cases.csv").exists()
    assert "2,000 rows" in out

    code, out = run("load", "--config", str(config))
    assert code == 0, out
    assert "cases              2,000 rows: 2,000 new, 0 updated" in out
    assert "past audits" in out and re.search(rf"audit cycles +{PAST_CYCLES}\n", out)
    assert re.search(r"indicators +576 rows: 576 new, 0 updated", out)  # the KPI return: 6 indicators, 4 areas

    code, out = run("load", "--config", str(config))
    assert code == 0 and out.count("already loaded (same file content), skipped") == 8


def _cases(config: Path) -> tuple[Path, pd.DataFrame]:
    path = config.parent / "var" / "extracts" / "cases.csv"
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def _stored(config: Path) -> dict[str, str | None]:
    """Each stored case's reference and why its latest row was set aside (None when it was not)."""
    settings = load_settings(config)
    with engine_from(settings).connect() as connection:
        return dict(connection.execute(select(models.CaseRecord.case_ref, models.CaseRecord.set_aside)).all())


def test_qaloop_load_checks_as_the_cycle_does_and_a_case_set_aside_is_never_drawn(config: Path) -> None:
    run("init-db", "--config", str(config))
    run("demo-data", "--config", str(config), "--cases", "500", "--as-of", "2026-11-22")
    path, cases = _cases(config)
    good = cases.copy()
    refs = cases["Case Reference"]
    cases.loc[1, "Start Date"] = "not a date"
    cases.loc[2, "Last Activity Date"] = "22/03/2027"  # four months ahead
    cases.loc[4, "Case Reference"] = refs[3]  # the same case twice: neither row may overwrite the other
    cases.to_csv(path, index=False)
    code, out = run("load", "--config", str(config), "cases", "--as-of", "2026-11-22")
    assert code == 0, out
    assert (
        f"start_date (the source's 'Start Date') is not a valid date: 1 row(s): {refs[1]} (values: not a date)" in out
    )
    assert (
        f"last_activity_date (the source's 'Last Activity Date') is in the future or before 1990: 1 row(s): {refs[2]}"
        in out
    )
    assert f"case_ref (the source's 'Case Reference') appears more than once: 2 row(s): {refs[3]}" in out
    assert "4 set aside by its checks" in out and "quarantine/cases-2026-11-22.csv" in out
    stored = _stored(config)
    assert len(stored) == 496 and not {refs[1], refs[2], refs[3], refs[4]} & set(stored)

    # A case stored from a good extract whose row in a later one fails is kept out of every draw, whichever
    # command reads the later file first (the cycle's own step finds it already loaded and still sets it aside).
    good.to_csv(path, index=False)
    assert run("load", "--config", str(config), "cases", "--as-of", "2026-11-22")[0] == 0
    later = good.copy()
    later.loc[0, "Worker ID"] = "E999999"
    later.to_csv(path, index=False)
    code, out = run("load", "--config", str(config), "cases", "--as-of", "2026-11-23")
    assert code == 0 and "1 set aside by its checks" in out
    assert _stored(config)[refs[0]] == "worker_id (the source's 'Worker ID') is not in the staff list"
    settings = load_settings(config)
    loaded = check_and_load_extracts(settings, date(2026, 11, 23))
    assert loaded.cases.already_loaded and loaded.quarantined == (refs[0],)
    inputs = selection_inputs(engine_from(settings), settings, date(2026, 12, 14))
    assert refs[0] not in set(inputs.cases["case_ref"]) and len(inputs.cases) == 499

    good.to_csv(path, index=False)  # corrected at source: the case is current again
    assert run("load", "--config", str(config), "cases", "--as-of", "2026-11-24")[0] == 0
    assert _stored(config)[refs[0]] is None


def test_a_dataset_whose_policy_is_to_stop_loads_nothing_and_names_the_rows(config: Path) -> None:
    data = yaml.safe_load(config.read_text())
    data["checks"] = {"cases": {"on_failure": "stop"}}
    config.write_text(yaml.safe_dump(data))
    run("init-db", "--config", str(config))
    run("demo-data", "--config", str(config), "--cases", "500", "--as-of", "2026-11-22")
    path, cases = _cases(config)
    cases.loc[1, "Start Date"] = "not a date"
    cases.to_csv(path, index=False)
    code, out = run("load", "--config", str(config), "--as-of", "2026-11-22")
    assert code == 1
    assert (
        f"start_date (the source's 'Start Date') is not a valid date: 1 row(s): {cases.loc[1, 'Case Reference']}" in out
    )
    assert "Nothing was written" in out and "Traceback" not in out
    assert _stored(config) == {}


def test_an_unexpected_error_is_a_plain_message_and_a_traceback_only_with_debug(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database_url"] = "postgresql+psycopg://qaloop@127.0.0.1:1/nowhere"  # nothing listens on port 1
    config = tmp_path / "qaloop.yaml"
    config.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-c", "from cli.main import main; main()", "init-db", "--config", str(config)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1
    assert plain.stderr.startswith("qaloop stopped: ") and "127.0.0.1" in plain.stderr
    assert "Traceback" not in plain.stderr + plain.stdout and "--debug" in plain.stderr
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=60)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_a_date_off_the_schedule_names_the_nearest_ones(config: Path) -> None:
    code, out = run("cycle", "run", "--config", str(config), "--on", "2026-12-15")
    assert code == 1
    assert "2026-12-15 is not a scheduled selection date" in out and "the nearest are 2026-12-14 and 2027-01-25" in out


def test_a_wrong_config_stops_every_command_with_the_field(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["grade_scale"]["standard"] = "Fine"
    path = tmp_path / "qaloop.yaml"
    path.write_text(yaml.safe_dump(data))
    for command in ("init-db", "load", "demo-data"):
        code, out = run(command, "--config", str(path))
        assert code == 2
        assert "grade_scale" in out and "'Fine' is not one of the grade labels" in out


def test_doctor_says_what_is_fine_and_what_is_wrong(config: Path, smtp_server: SmtpSink) -> None:
    code, out = run("doctor", "--config", str(config))
    assert code == 1
    assert "FAIL database" in out and "run `qaloop init-db`" in out
    assert "FAIL source cases" in out and "cases.csv: file not found" in out
    assert f"ok   smtp                   127.0.0.1:{smtp_server.port} answered, no login" in out

    run("init-db", "--config", str(config))
    run("demo-data", "--config", str(config), "--cases", "500", "--as-of", "2026-11-22")
    code, out = run("doctor", "--config", str(config))
    assert code == 0, out
    assert "ok   database" in out and "at migration" in out
    assert "cases.csv: 500 rows, every column found" in out
    assert "ok   outbox" in out
    assert smtp_server.messages == []  # checking the server sends nothing

    settings = load_settings(config)  # a message that reached only some of its recipients is not "all well"
    enqueue(engine_from(settings), [Message(key="x/1", kind="auditor", to=("a@x.example",), cc=("refuse@x.example",),
                                             subject="s", html="<p>h</p>", text="h")])  # fmt: skip
    outbox.send_queued(engine_from(settings), settings.email)
    code, out = run("doctor", "--config", str(config))
    assert code == 1 and "FAIL outbox" in out and "1 that reached only some recipients" in out

    path, cases = _cases(config)  # an export whose worker column was renamed at source
    cases.rename(columns={"Worker ID": "Allocated Worker"}).to_csv(path, index=False)
    code, out = run("doctor", "--config", str(config))
    assert code == 1
    assert "FAIL source cases" in out and "missing column(s) 'worker_id' (mapped from 'Worker ID')" in out


def test_doctor_reports_an_unreachable_mail_server_and_prefect_api(
    config: Path, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load(config.read_text())
    data["email"]["smtp_port"] = 1  # nothing listens there
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    code, out = run("doctor", "--config", str(config))
    assert code == 1
    assert "FAIL smtp                   the mail server at 127.0.0.1:1 cannot be reached" in out
    assert "FAIL prefect                cannot reach the Prefect API at http://127.0.0.1:1/api" in out


def test_a_quality_lead_loads_the_market_proposes_explains_and_records_a_decision(tmp_path: Path) -> None:
    settings = with_market(settings_in(tmp_path), tmp_path)
    config = write_config(settings, tmp_path)
    assert run("init-db", "--config", str(config))[0] == 0
    code, output = run("load", "--config", str(config), *[dataset.value for dataset in PROVIDER_INTELLIGENCE])
    assert code == 0, output
    assert "left out: 2 row(s) about 2 location(s) not in the provider list" in output
    code, output = run("provider", "propose", "2026-11", "--config", str(config))
    assert code == 0, output
    assert "2026-11: 6 provider(s) proposed" in output
    assert re.search(r"level 3:\s+1\n\s+level 2:\s+3\n\s+level 1:\s+2", output), output
    assert "1-1003         would move up from level 1 to 3: cqc_inadequate" in output
    code, output = run("provider", "explain", "1-1006", "2026-11", "--config", str(config))
    assert code == 0, output
    assert "returns_missing (level 2): monthly monitoring return missing 2 months running" in output
    decide = ["provider", "decide", "1-1002", "2026-11", "--level", "2", "--by", "QT-0001", "--reason", "Escalate"]
    code, output = run(*decide, "--config", str(config))
    assert code == 1
    assert "commissioned jointly with the ICB" in output
    assert "Traceback" not in output
    code, output = run(*decide, "--jointly-with", "ICB-0042", "--config", str(config))
    assert code == 0, output
    assert "1-1002, 2026-11: Decided: level 2 by QT-0001 jointly with ICB-0042" in output
    # What the monitoring of each level needs is overdue: at level 2 now, 1-1002's open improvement action; with no
    # monitoring_since configured, a requirement nothing is recorded for cannot be reckoned, and says so.
    code, output = run("provider", "monitoring", "--day", "2026-12-03", "--config", str(config))
    assert code == 0, output
    assert "1-1002         level 2  improvement plan action SIP-1: due 2026-10-01 (provider)" in output
    assert "Not reckoned:\n" in output
    assert "  1-1004: annual_visit_or_contact cannot be reckoned: none is recorded" in output
    code, output = run("provider", "report", "2026-11", "--meeting", "2026-12-15", "--config", str(config))
    assert code == 0, output
    assert "2026-11: 4 provider(s) for the panel" in output
    assert (settings.output_dir / "providers" / "2026-11" / "panel-pack-2026-11.html").is_file()
    code, output = run("provider", "report", "2026-10", "--config", str(config))
    assert code == 1 and "no level is proposed for 2026-10" in output and "Traceback" not in output
