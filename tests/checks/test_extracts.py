"""The cycle's first step on bad extracts: each gives a clear message naming the rows, and the store is
left exactly as it was (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from checks.extracts import check_and_load_extracts
from checks.outcomes import CheckFailed
from qaloop.core.schema import Dataset
from qaloop.core.settings import CheckPolicy, Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.sources.readers import SourceError
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import Stages, database_of, stage

AS_OF = date(2026, 11, 22)


def _cases_stop_on_any_failure(settings: Settings) -> Settings:
    return settings.model_copy(update={"checks": {**settings.checks, Dataset.CASES: CheckPolicy(on_failure="stop")}})


@stage("extracts-600", configure=_cases_stop_on_any_failure)
def _load_600_cases(settings: Settings) -> None:
    write_extracts(generate(settings, as_of=AS_OF, seed=5, cases=600), settings)
    upgrade(engine_from(settings))
    check_and_load_extracts(settings, AS_OF)


@pytest.fixture
def loaded(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A 600-case authority loaded once through the step, with cases set to stop on any failed check."""
    yield from stages.copy("extracts-600", database_of(store_url), tmp_path)


def store_contents(settings: Settings) -> tuple[list, list]:
    with engine_from(settings).connect() as connection:
        cases = connection.execute(select(models.CaseRecord).order_by(models.CaseRecord.case_ref)).all()
        staff = connection.execute(select(models.Staff).order_by(models.Staff.staff_ref)).all()
    return cases, staff


def _edit(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Settings], None]:
    def apply(settings: Settings) -> None:
        path = settings.sources[Dataset.CASES].path
        cases = pd.read_csv(path, dtype=str, keep_default_na=False)
        cases.loc[0, "Last Activity Date"] = "21/11/2026"  # a genuine update: stored only if the step goes on
        change(cases).to_csv(path, index=False)

    return apply


def _set(row: int, column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(cases: pd.DataFrame) -> pd.DataFrame:
        cases.loc[row, column] = value
        return cases

    return change


def _ref(settings: Settings, row: int) -> str:
    return pd.read_csv(settings.sources[Dataset.CASES].path, dtype=str)["Case Reference"][row]


BAD_EXTRACTS = {
    "a missing column": (
        _edit(lambda cases: cases.drop(columns=["Worker ID"])),
        SourceError,
        lambda s: "missing column(s) 'worker_id'",
    ),
    "duplicate case references": (
        _edit(lambda cases: pd.concat([cases, cases.iloc[[7]]])),
        CheckFailed,
        lambda s: f"case_ref (the source's 'Case Reference') appears more than once: 2 row(s): {_ref(s, 7)}",
    ),
    "a worker not in the staff list": (
        _edit(_set(9, "Worker ID", "E999999")),
        CheckFailed,
        lambda s: (
            f"worker_id (the source's 'Worker ID') is not in the staff list: 1 row(s): {_ref(s, 9)} (values: E999999)"
        ),
    ),
    "an unparseable date": (
        _edit(_set(11, "Start Date", "31/02/2026")),
        CheckFailed,
        lambda s: (
            f"start_date (the source's 'Start Date') is not a valid date: 1 row(s): {_ref(s, 11)} (values: 31/02/2026)"
        ),
    ),
    "a future date": (
        _edit(_set(12, "Last Activity Date", "01/01/2027")),
        CheckFailed,
        lambda s: (
            "last_activity_date (the source's 'Last Activity Date') is in the future or before 1990: "
            f"1 row(s): {_ref(s, 12)}"
        ),
    ),
    "a case reference too long to store": (
        _edit(_set(13, "Case Reference", "CR" + "9" * 100_000)),
        CheckFailed,
        lambda s: "case_ref (the source's 'Case Reference') is longer than 64 characters: 1 row(s)",
    ),
    "a case reference that is a formula": (
        _edit(_set(14, "Case Reference", '=HYPERLINK("http://evil.example","CR1")')),
        CheckFailed,
        lambda s: "case_ref (the source's 'Case Reference') has characters no reference has (only letters, digits",
    ),
    "a team name with a right-to-left override": (
        _edit(_set(15, "Team", "North \u202eteam")),
        CheckFailed,
        lambda s: (
            "team has characters no team name has (only letters, digits, spaces and . , ' & ( ) / # : + - _, "
            f"beginning with a letter or digit): 1 row(s): {_ref(s, 15)} (values: North \\u202eteam)"
        ),
    ),
    "an empty extract": (_edit(lambda cases: cases.iloc[0:0]), CheckFailed, lambda s: "the case extract has no rows"),
    "an unreadable file": (
        lambda s: s.sources[Dataset.CASES].path.write_bytes(b"\x00\xff\xfe garbage \xff"),
        SourceError,
        lambda s: "cases.csv: not a readable CSV",
    ),
}


@pytest.mark.parametrize("bad", BAD_EXTRACTS, ids=list(BAD_EXTRACTS))
def test_a_bad_extract_is_named_and_changes_nothing(loaded: Settings, bad: str) -> None:
    spoil, error, says = BAD_EXTRACTS[bad]
    before = store_contents(loaded)
    expected = says(loaded)
    spoil(loaded)
    with pytest.raises(error) as raised:
        check_and_load_extracts(loaded, AS_OF)
    message = raised.value.report.describe() if isinstance(raised.value, CheckFailed) else str(raised.value)
    assert expected in message and len(message) < 2_000  # a few rows quoted, never a file's worth
    assert store_contents(loaded) == before
