"""The qaloop command line as a QA officer runs it: set up, write the demo authority, load, check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import DEMO_CONFIG, SmtpSink

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
    assert "past audits" in out and "audit cycles                 8" in out

    code, out = run("load", "--config", str(config))
    assert code == 0 and out.count("already loaded (same file content), skipped") == 7


def test_a_bad_extract_stops_the_load_with_the_rows_named(config: Path) -> None:
    run("init-db", "--config", str(config))
    run("demo-data", "--config", str(config), "--cases", "500", "--as-of", "2026-11-22")
    cases = config.parent / "var" / "extracts" / "cases.csv"
    lines = cases.read_text().splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("Start Date")] = "not a date"
    cases.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    code, out = run("load", "--config", str(config), "cases")
    assert code == 1
    assert f"start_date: 1 row(s) not a valid date: {first[0]} ('not a date')" in out


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
    assert "FAIL source cases" in out and "does not exist" in out
    assert f"ok   smtp                   127.0.0.1:{smtp_server.port} answered, no login" in out

    run("init-db", "--config", str(config))
    run("demo-data", "--config", str(config), "--cases", "500", "--as-of", "2026-11-22")
    code, out = run("doctor", "--config", str(config))
    assert code == 0, out
    assert "ok   database" in out and "at migration" in out
    assert smtp_server.messages == []  # checking the server sends nothing


def test_doctor_reports_an_unreachable_mail_server_and_prefect_api(
    config: Path, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load(config.read_text())
    data["email"]["smtp_port"] = 1  # nothing listens there
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    code, out = run("doctor", "--config", str(config))
    assert code == 1
    assert "FAIL smtp                   cannot reach the mail server at 127.0.0.1:1" in out
    assert "FAIL prefect                cannot reach the Prefect API at http://127.0.0.1:1/api" in out
