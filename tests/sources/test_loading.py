"""Loading a council's extracts into the store, on SQLite and PostgreSQL: all or nothing, once per file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select, text

from checks.intake import take_in
from checks.outcomes import Intake
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.core.settings import Settings, SqlSource, load_settings
from qaloop.demo.synthetic import PAST_CYCLES, SyntheticAuthority, generate, write_extracts
from qaloop.sources.loading import LoadError, LoadSummary, counts, load_frame
from qaloop.sources.readers import SourceError, file_digest, read_dataset, typed
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import DEMO_CONFIG, Stages, database_of, stage

AS_OF = date(2026, 11, 22)


@cache
def _authority() -> SyntheticAuthority:
    return generate(load_settings(DEMO_CONFIG), as_of=AS_OF, seed=11, cases=3_000)


@stage("extracts-3000")
def _write_3000_cases(settings: Settings) -> None:
    write_extracts(_authority(), settings)
    upgrade(engine_from(settings))


@pytest.fixture
def store_settings(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A 3,000-case authority's extracts written and its store migrated (once per run and database, copied
    for each test), nothing loaded yet."""
    yield from stages.copy("extracts-3000", database_of(store_url), tmp_path)


@pytest.fixture
def authority() -> SyntheticAuthority:
    """The frames the extracts were written from (each test copies what it changes)."""
    return _authority()


def load_dataset(engine: Engine, settings: Settings, dataset: Dataset) -> LoadSummary:
    """The store's own step alone, with no checks before it: what it refuses, it refuses by itself."""
    source = settings.sources[dataset]
    frame = typed(read_dataset(settings, dataset), dataset, source.date_format)
    return load_frame(engine, settings, dataset, frame, source.path, file_digest(source.path))


def load_all(settings: Settings) -> dict[Dataset, Intake]:
    """Every extract through the one checked path, as `qaloop load` takes them in."""
    return {intake.dataset: intake for intake in take_in(settings, EXTRACTS, AS_OF)}


def test_the_whole_authority_loads_and_matches_the_extracts(
    store_settings: Settings, authority: SyntheticAuthority
) -> None:
    summaries = load_all(store_settings)
    assert all(summary.new == len(authority[dataset]) for dataset, summary in summaries.items())
    held = counts(engine_from(store_settings), store_settings)
    assert held["staff"] == len(authority[Dataset.STAFF])
    assert held["cases"] == 3_000
    assert held["teams"] == authority[Dataset.STAFF]["team"].nunique()
    assert held["audit cycles"] == PAST_CYCLES
    assert held["past audits"] == len(authority[Dataset.AUDIT_HISTORY])
    assert held["survey answers"] == len(authority[Dataset.SURVEYS])

    engine = engine_from(store_settings)
    with engine.connect() as connection:
        # The hierarchy survives: every practitioner's line manager is their team's manager.
        mismatched = connection.scalar(
            text(
                "SELECT count(*) FROM staff s JOIN staff m ON m.id = s.line_manager_id "
                "WHERE s.role = 'practitioner' AND (m.role <> 'team_manager' OR m.team_id <> s.team_id)"
            )
        )
        assert mismatched == 0
        statuses = connection.execute(
            select(models.Allocation.status, func.count()).group_by(models.Allocation.status)
        ).all()
        assert statuses == [("closed", len(authority[Dataset.AUDIT_HISTORY]))]


def test_a_file_already_loaded_is_skipped_and_a_newer_extract_updates(
    store_settings: Settings, authority: SyntheticAuthority
) -> None:
    load_all(store_settings)
    again = load_all(store_settings)
    assert all(intake.already_loaded for intake in again.values())

    cases = authority[Dataset.CASES].copy()
    cases.loc[0, "last_activity_date"] = AS_OF
    extra = cases.iloc[[1]].assign(case_ref="CR99999999")
    newer = SyntheticAuthority({Dataset.CASES: pd.concat([cases, extra], ignore_index=True)})
    write_extracts(newer, store_settings)
    [staff, summary] = take_in(store_settings, [Dataset.CASES], AS_OF)
    assert staff.already_loaded and (summary.new, summary.updated) == (1, 3_000)
    with engine_from(store_settings).connect() as connection:
        changed = connection.scalar(
            select(models.CaseRecord.last_activity_date).where(models.CaseRecord.case_ref == cases.loc[0, "case_ref"])
        )
    assert changed == AS_OF


def test_bad_rows_are_named_and_nothing_is_stored(store_settings: Settings, authority: SyntheticAuthority) -> None:
    engine = engine_from(store_settings)
    load_dataset(engine, store_settings, Dataset.STAFF)
    cases = authority[Dataset.CASES].copy()
    cases.loc[5, "worker_id"] = "E999999"
    cases.loc[6, "team"] = "Atlantis Locality 1"
    cases.loc[7, "audit_type"] = "haircut"
    write_extracts(SyntheticAuthority({Dataset.CASES: cases}), store_settings)
    with pytest.raises(LoadError) as raised:
        load_dataset(engine, store_settings, Dataset.CASES)
    message = str(raised.value)
    assert "nothing was stored" in message
    assert (
        f"worker_id: worker (not in the staff list): 1 row(s): {cases.loc[5, 'case_ref']} (values: E999999)" in message
    )
    assert f"team: team (not in the staff list): 1 row(s): {cases.loc[6, 'case_ref']}" in message
    assert "audit_type: not one of" in message and "haircut" in message
    assert counts(engine, store_settings)["cases"] == 0
    with engine.connect() as connection:
        assert (
            connection.scalar(
                select(func.count()).select_from(models.SourceFile).where(models.SourceFile.dataset == "cases")
            )
            == 0
        )

    # Once the extract is corrected, the same load goes through.
    write_extracts(SyntheticAuthority({Dataset.CASES: authority[Dataset.CASES]}), store_settings)
    assert load_dataset(engine, store_settings, Dataset.CASES).new == 3_000


def test_history_with_a_grade_off_the_scale_is_refused(store_settings: Settings, authority: SyntheticAuthority) -> None:
    engine = engine_from(store_settings)
    for dataset in (Dataset.STAFF, Dataset.CASES):
        load_dataset(engine, store_settings, dataset)
    history = authority[Dataset.AUDIT_HISTORY].copy()
    history.loc[3, "grade"] = "Superb"
    write_extracts(SyntheticAuthority({Dataset.AUDIT_HISTORY: history}), store_settings)
    with pytest.raises(
        LoadError, match=rf"grade: not on the scale .*1 row\(s\): {history.loc[3, 'case_ref']} \(values: Superb\)"
    ):
        load_dataset(engine, store_settings, Dataset.AUDIT_HISTORY)
    assert counts(engine, store_settings)["audit cycles"] == 0


def test_a_sql_source_reads_through_sqlalchemy_with_bound_parameters(
    store_settings: Settings, authority: SyntheticAuthority
) -> None:
    engine = engine_from(store_settings)
    load_dataset(engine, store_settings, Dataset.STAFF)
    load_dataset(engine, store_settings, Dataset.CASES)
    query = (
        "SELECT c.case_ref AS ref, c.person_ref, c.audit_type, a.code AS area, t.name AS team, s.staff_ref AS worker, "
        "c.start_date, c.last_activity_date, c.end_date FROM case_record c JOIN area a ON a.id = c.area_id "
        "JOIN team t ON t.id = c.team_id JOIN staff s ON s.id = c.worker_id WHERE c.last_activity_date >= :as_of"
    )
    store = store_settings.database_url  # qaloop's own store, named as a source must name it
    source = SqlSource(kind="sql", url=store, query=query, columns={"case_ref": "ref", "worker_id": "worker"})
    sql_settings = store_settings.model_copy(update={"sources": {Dataset.CASES: source}})
    frame = read_dataset(sql_settings, Dataset.CASES, as_of=date(2026, 9, 1))
    expected = authority[Dataset.CASES].query("last_activity_date >= @date(2026, 9, 1)")
    assert sorted(frame["case_ref"]) == sorted(expected["case_ref"])
    assert set(frame["worker_id"]) <= set(authority[Dataset.STAFF]["staff_id"])

    missing = SqlSource(kind="sql", url=store, query="SELECT case_ref FROM case_record", columns={})
    with pytest.raises(SourceError, match=r"missing column\(s\) 'person_ref'"):
        read_dataset(store_settings.model_copy(update={"sources": {Dataset.CASES: missing}}), Dataset.CASES)
    broken = SqlSource(kind="sql", url=store, query="SELECT * FROM no_such_table")
    with pytest.raises(SourceError, match="SQL query: the query failed"):
        read_dataset(store_settings.model_copy(update={"sources": {Dataset.CASES: broken}}), Dataset.CASES)


def test_a_sql_source_can_only_read(store_settings: Settings) -> None:
    engine = engine_from(store_settings)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE victim (n INTEGER)")
        connection.exec_driver_sql("INSERT INTO victim VALUES (1)")
    store = store_settings.database_url
    with pytest.raises(ValidationError, match="one statement"):  # refused at start, before anything runs
        SqlSource(kind="sql", url=store, query="SELECT 1 AS case_ref; DROP TABLE victim; COMMIT")
    with pytest.raises(ValidationError, match="url"):  # never qaloop's own store without saying so
        SqlSource(kind="sql", query="SELECT * FROM case_record")
    # One statement that writes all the same (PostgreSQL lets a SELECT's CTE delete): the database refuses it in
    # the read-only transaction. SQLite's SELECT cannot write; there the read runs with query_only on.
    writes = (
        "WITH gone AS (DELETE FROM victim RETURNING n) SELECT n AS case_ref FROM gone"
        if engine.dialect.name == "postgresql"
        else "SELECT n AS case_ref FROM victim"
    )
    source = SqlSource(kind="sql", url=store, query=writes, columns={})
    settings = store_settings.model_copy(update={"sources": {Dataset.CASES: source}})
    refusal = "read-only transaction" if engine.dialect.name == "postgresql" else "missing column"
    with pytest.raises(SourceError, match=refusal):
        read_dataset(settings, Dataset.CASES)
    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM victim").scalar() == 1
        connection.exec_driver_sql("INSERT INTO victim VALUES (2)")  # the pool's connections still write


def test_history_that_re_audits_a_case_is_refused_by_row(
    store_settings: Settings, authority: SyntheticAuthority
) -> None:
    engine = engine_from(store_settings)
    for dataset in (Dataset.STAFF, Dataset.CASES, Dataset.AUDIT_HISTORY):
        load_dataset(engine, store_settings, dataset)
    history = authority[Dataset.AUDIT_HISTORY]
    again = history.iloc[[0]].assign(cycle_ref="2026-99", selection_date=date(2026, 11, 16))
    write_extracts(SyntheticAuthority({Dataset.AUDIT_HISTORY: again}), store_settings)
    with pytest.raises(LoadError) as raised:
        load_dataset(engine, store_settings, Dataset.AUDIT_HISTORY)
    assert f"already audited by the regular programme in another cycle: 1 row(s): {again.iloc[0]['case_ref']}" in str(
        raised.value
    )
    assert counts(engine, store_settings)["audit cycles"] == PAST_CYCLES


def test_a_rule_only_the_store_knows_is_still_reported_in_words(
    store_settings: Settings, authority: SyntheticAuthority
) -> None:
    engine = engine_from(store_settings)
    load_dataset(engine, store_settings, Dataset.STAFF)
    cases = authority[Dataset.CASES].copy()
    cases.loc[0, "last_activity_date"] = date(2020, 1, 1)  # before the case started
    write_extracts(SyntheticAuthority({Dataset.CASES: cases}), store_settings)
    with pytest.raises(LoadError, match="cases: nothing was stored: the store refused a row"):
        load_dataset(engine, store_settings, Dataset.CASES)
    assert counts(engine, store_settings)["cases"] == 0
