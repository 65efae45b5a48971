"""`qaloop check` on a good and a bad authority, its configured store on SQLite and PostgreSQL: what would load,
be set aside or stop, what the draw needs, per stratum and area; nothing written to the store; and its HTML
report rendered by headless Chromium."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.store.engine import current_revision, engine_from
from tests.chromium import screenshot
from tests.conftest import write_config
from tests.prefect_server import through_the_api

AS_OF = date(2026, 11, 22)


@pytest.fixture
def council(store_settings: Settings, tmp_path: Path) -> Path:
    """A 2,000-case authority auditing 15 cases per area, its extracts and its configuration; its store not
    even created."""
    calendar = store_settings.calendar.model_copy(update={"audits_per_area": 15})
    settings = store_settings.model_copy(update={"calendar": calendar})
    write_extracts(generate(settings, as_of=AS_OF, seed=7, cases=2_000, history_per_cycle=60), settings)
    return write_config(settings, tmp_path)


def check(config: Path, html: Path) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["check", "--config", str(config), "--on", "2026-12-01", "--html", str(html)])
    return done.exit_code, done.output


def test_a_good_authority_is_ready_and_nothing_is_written_to_its_store(
    council: Path, store_settings: Settings, tmp_path: Path
) -> None:
    code, out = check(council, tmp_path / "check.html")
    assert code == 0, out
    assert "cycle 2026-09, selected 2026-12-14" in out and "cases              2,000 rows, 2,000 would load" in out
    assert "strata" in out and "staff may audit" in out and "not ready" not in out
    assert current_revision(engine_from(store_settings)) is None  # the configured store was never touched
    assert not (store_settings.output_dir / "quarantine").exists()
    page = (tmp_path / "check.html").read_text()
    assert "The next cycle would run" in page and "Cases per stratum" in page


def test_a_bad_authority_is_told_what_stops_and_what_to_change(
    council: Path, store_settings: Settings, tmp_path: Path
) -> None:
    cases_file = store_settings.sources[Dataset.CASES].path
    cases = pd.read_csv(cases_file, dtype=str, keep_default_na=False)
    cases.loc[3, "Worker ID"] = "E999999"  # set aside: within the cases' 1 %
    cases.to_csv(cases_file, index=False)
    history_file = store_settings.sources[Dataset.AUDIT_HISTORY].path
    history = pd.read_csv(history_file, dtype=str, keep_default_na=False)
    history.loc[0, "grade"] = "Superb"  # the history's policy is to stop
    history.to_csv(history_file, index=False)

    code, out = check(council, tmp_path / "check.html")
    assert code == 1
    assert "1 set aside: worker_id (the source's 'Worker ID') is not in the staff list" in out
    assert "audit_history  stops, nothing would load" in out and "grade is not on the scale" in out
    assert "not ready: the store holds no audit history" in out  # without it, the draw refuses
    assert current_revision(engine_from(store_settings)) is None
    page = (tmp_path / "check.html").read_text()
    assert "would not run" in page and "checks.audit_history.on_failure: quarantine" in page
    assert history.loc[0, "case_ref"] in page and "Superb" in page  # the rows, by reference, and the value


@pytest.mark.browser
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_check_report_renders_in_headless_chromium(council: Path, tmp_path: Path) -> None:
    check(council, tmp_path / "check.html")
    screenshot(tmp_path / "check.html", tmp_path)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_check_setup_flow_from_the_ui_says_what_the_command_says(
    prefect_harness: None, council: Path, tmp_path: Path
) -> None:
    from prefect.artifacts import Artifact

    from flows.check_setup import check_setup

    checked = through_the_api(check_setup, on=date(2026, 12, 1).isoformat(), config=str(council)).result()
    code, out = check(council, tmp_path / "check.html")
    assert checked.would_run and code == 0
    assert checked.found.splitlines() == out.splitlines()[:-1]  # all but the command's "Report: <path>"
    published = Artifact.get("setup-checked").data
    assert "The next cycle would run." in published and "cases              2,000 rows" in published
