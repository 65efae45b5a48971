"""Drawing a cycle into the store and explaining it later, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from checks.intake import take_in
from cli.main import app
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.schema import EXTRACTS
from qaloop.core.settings import Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.programmes.cycle_record import discard_rehearsal, draw_cycle, selection_inputs
from qaloop.programmes.explain import explain_cycle
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from qaloop.store.handles import CycleError, cycle_handle
from tests.conftest import Stages, database_of, stage

AS_OF = date(2026, 11, 22)
NEXT = date(2026, 12, 14)


@stage("county-31")
def _load_county_31(settings: Settings) -> None:
    write_extracts(generate(settings, as_of=AS_OF, seed=31, cases=4_000), settings)
    engine = engine_from(settings)
    upgrade(engine)
    take_in(settings, EXTRACTS, AS_OF)


@pytest.fixture
def loaded(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A 4,000-case county (seed 31) with its history loaded."""
    yield from stages.copy("county-31", database_of(store_url), tmp_path)


def allocations(settings: Settings, cycle_id: int) -> list[tuple[str, str, int | None]]:
    with engine_from(settings).connect() as connection:
        return connection.execute(
            select(models.CaseRecord.case_ref, models.Allocation.status, models.Allocation.reserve_rank)
            .join(models.CaseRecord, models.CaseRecord.id == models.Allocation.case_id)
            .where(models.Allocation.cycle_id == cycle_id)
            .order_by(models.CaseRecord.case_ref)
        ).all()


def test_a_cycle_is_drawn_recorded_once_and_explained(loaded: Settings) -> None:
    engine = engine_from(loaded)
    dates = cycle_dates(loaded.calendar, NEXT)
    before = selection_inputs(engine, loaded, NEXT)
    draw = draw_cycle(engine, loaded, dates)
    assert draw.drawn_now and draw.selection is not None
    recorded = allocations(loaded, draw.cycle_id)
    selected = {ref for ref, status, _ in recorded if status == "selected"}
    assert len(selected) == sum(result.drawn for result in draw.selection.strata) == 240
    assert all(rank for _, status, rank in recorded if status == "reserve")

    # The regular programme's earlier audits were respected, and now count as audited too.
    assert before.audited and not selected & before.audited
    assert selection_inputs(engine, loaded, NEXT).audited == before.audited | selected

    again = draw_cycle(engine, loaded, dates)
    assert (again.cycle_id, again.drawn_now) == (draw.cycle_id, False)
    assert allocations(loaded, draw.cycle_id) == recorded

    with engine.connect() as connection:
        cycle = connection.execute(select(models.AuditCycle).where(models.AuditCycle.id == draw.cycle_id)).one()
    assert cycle.seed == draw.selection.seed and cycle.rule_version == "selection-1"
    assert cycle.status == "selected" and cycle.audit_due == dates.audit_due

    # Later changes in the case system do not change what the cycle was drawn from.
    with engine.begin() as connection:
        connection.execute(
            update(models.CaseRecord).values(start_date=date(2020, 1, 1), last_activity_date=date(2020, 1, 1))
        )
    explanation = explain_cycle(engine, loaded, dates.cycle_ref)
    assert explanation.identical, explanation.differences
    reasons = explanation.outcomes.set_index("case_ref")["reason"]
    assert all(reasons[ref].startswith("drawn ") for ref in selected)
    assert (reasons == "already audited by the regular programme").sum() == len(before.audited)


def test_an_altered_input_file_is_detected(loaded: Settings) -> None:
    engine = engine_from(loaded)
    dates = cycle_dates(loaded.calendar, NEXT)
    draw_cycle(engine, loaded, dates)
    stored = loaded.output_dir / "cycles" / dates.cycle_ref / "selection-inputs.json.gz"
    stored.write_bytes(gzip.compress(gzip.decompress(stored.read_bytes()).replace(b"CR", b"CX", 1)))
    with pytest.raises(CycleError, match="have been altered since the draw"):
        explain_cycle(engine, loaded, dates.cycle_ref)
    with pytest.raises(CycleError, match="2027-01 has no recorded draw"):
        explain_cycle(engine, loaded, "2027-01")


def test_a_different_record_is_reported_as_a_difference(loaded: Settings) -> None:
    engine = engine_from(loaded)
    dates = cycle_dates(loaded.calendar, NEXT)
    draw_cycle(engine, loaded, dates, seed=5)
    with engine.begin() as connection:
        connection.execute(
            update(models.AuditCycle).where(models.AuditCycle.cycle_ref == dates.cycle_ref).values(seed=6)
        )
    explanation = explain_cycle(engine, loaded, dates.cycle_ref)
    assert not explanation.identical
    assert any(line.startswith("recorded as selected but not re-derived so") for line in explanation.differences)


def test_the_command_line_draws_and_explains(loaded: Settings, tmp_path) -> None:  # noqa: ANN001
    import yaml

    from tests.conftest import DEMO_CONFIG

    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["database_url"] = loaded.database_url.get_secret_value()
    config["output_dir"] = str(loaded.output_dir)
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    drawn = runner.invoke(app, ["cycle", "draw", "--config", str(path), "--on", str(NEXT)])
    assert drawn.exit_code == 0, drawn.output
    assert "Cycle 2026-09, selected 2026-12-14" in drawn.output and "NE|care_act_review" in drawn.output
    assert "already drawn" in runner.invoke(app, ["cycle", "draw", "--config", str(path), "--on", str(NEXT)]).output
    explained = runner.invoke(app, ["cycle", "explain", "2026-09", "--config", str(path)])
    assert explained.exit_code == 0, explained.output
    assert "identical to the record" in explained.output and "drawn in its stratum" in explained.output
    off_schedule = runner.invoke(app, ["cycle", "draw", "--config", str(path), "--on", "2026-12-15"])
    assert off_schedule.exit_code == 1 and "not a scheduled selection date" in off_schedule.output


def test_a_cycle_that_has_gone_further_than_a_dry_run_is_never_discarded(notified: Settings) -> None:
    engine = engine_from(notified)
    cycle = cycle_handle(engine, notified, "2026-09")
    with pytest.raises(CycleError, match="has gone further than a dry run: it is kept as it is"):
        discard_rehearsal(engine, notified, cycle)
    with engine.connect() as connection:
        kept = connection.scalar(select(func.count()).select_from(models.Allocation).where(
            models.Allocation.cycle_id == cycle.cycle_id))  # fmt: skip
    assert kept > 0
