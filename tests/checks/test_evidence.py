"""The citizen-evidence extracts: checked by Great Expectations, bad rows named, set aside or stopping as the
policy says, each file stored once, each dataset all or nothing."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from checks.evidence import check_and_load_evidence
from checks.intake import take_in
from checks.outcomes import EvidenceFailed
from qaloop.core.schema import Dataset
from qaloop.core.settings import CheckPolicy, Settings
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade

AS_OF = date(2026, 11, 22)


@pytest.fixture
def staffed(store_settings: Settings) -> Settings:
    """A small county's extracts written, with only its staff list (and so its teams) stored."""
    # Seed 8: a county this small seldom has an Ombudsman decision, and this one has one.
    write_extracts(generate(store_settings, as_of=AS_OF, seed=8, cases=2_000), store_settings)
    engine = engine_from(store_settings)
    upgrade(engine)
    take_in(store_settings, [Dataset.STAFF], AS_OF)
    return store_settings


def _count(settings: Settings, model: type) -> int:
    with engine_from(settings).connect() as connection:
        return connection.scalar(select(func.count()).select_from(model))


def _spoil_complaints(settings: Settings) -> None:
    path = settings.sources[Dataset.COMPLAINTS].path
    frame = pd.read_csv(path, dtype=str)
    frame.loc[0, "outcome"] = "Upheld (stage 2)"
    frame.loc[1, "team"] = "Nowhere Team"
    frame.loc[2, "received_on"] = "2030-01-01"
    frame.loc[3, "complaint_ref"] = frame.loc[4, "complaint_ref"]
    frame.to_csv(path, index=False)


def test_bad_complaints_stop_only_their_own_dataset_and_name_each_row(staffed: Settings) -> None:
    settings = staffed.model_copy(update={"checks": {Dataset.COMPLAINTS: CheckPolicy(on_failure="stop")}})
    _spoil_complaints(settings)
    with pytest.raises(EvidenceFailed) as failed:
        check_and_load_evidence(settings, AS_OF)
    message = str(failed.value)
    assert "outcome is not one of: upheld, partly upheld, not upheld, open: 1 row(s): CMP-000001" in message
    assert "(values: Upheld (stage 2))" in message
    assert "team is not a team in the staff list: 1 row(s): CMP-000002 (values: Nowhere Team)" in message
    assert "received_on is in the future or before 1990: 1 row(s): CMP-000003" in message
    assert "complaint_ref appears more than once: 2 row(s): CMP-000005" in message
    assert _count(settings, models.Complaint) == 0
    assert {load.dataset for load in failed.value.loaded} == {
        Dataset.OMBUDSMAN, Dataset.COMPLIMENTS, Dataset.SURVEYS
    }  # fmt: skip
    assert _count(settings, models.Compliment) > 0
    # Corrected at source, the next run stores the complaints and does not read the others again.
    frame = pd.read_csv(settings.sources[Dataset.COMPLAINTS].path, dtype=str).iloc[6:]
    frame.to_csv(settings.sources[Dataset.COMPLAINTS].path, index=False)
    loads = {load.dataset: load for load in check_and_load_evidence(settings, AS_OF)}
    assert loads[Dataset.COMPLAINTS].new == len(frame) == _count(settings, models.Complaint)
    assert loads[Dataset.SURVEYS].already_loaded


def test_quarantine_sets_bad_rows_aside_in_a_file_and_stores_the_rest_once(staffed: Settings) -> None:
    policy = CheckPolicy(on_failure="quarantine", max_quarantine_share=0.5)
    staffed = staffed.model_copy(update={"checks": {Dataset.COMPLAINTS: policy}})
    _spoil_complaints(staffed)
    total = len(pd.read_csv(staffed.sources[Dataset.COMPLAINTS].path))
    loads = {load.dataset: load for load in check_and_load_evidence(staffed, AS_OF)}
    complaints = loads[Dataset.COMPLAINTS]
    assert complaints.rows - complaints.stored == 5  # a duplicated reference is two rows
    kept = pd.read_csv(complaints.quarantine_file, dtype=str)
    assert set(kept["complaint_ref"]) == {"CMP-000001", "CMP-000002", "CMP-000003", "CMP-000005"}
    assert kept.loc[kept["complaint_ref"] == "CMP-000002", "failed_checks"].item() == (
        "team is not a team in the staff list"
    )
    assert _count(staffed, models.Complaint) == total - 5
    again = {load.dataset: load for load in check_and_load_evidence(staffed, AS_OF)}
    assert all(load.already_loaded for load in again.values())
    assert _count(staffed, models.Complaint) == total - 5
    # The QA team is told once, by email, which rows and why (not only in the log and the Prefect UI).
    with engine_from(staffed).connect() as connection:
        [notice] = connection.execute(
            select(models.EmailOutbox).where(models.EmailOutbox.kind == "rows_set_aside")
        ).all()
    assert notice.subject == "5 row(s) of the complaints set aside"
    assert "CMP-000002: team is not a team in the staff list" in notice.text_body
    assert str(complaints.quarantine_file) in notice.text_body


def test_survey_rows_are_named_by_response_and_question(staffed: Settings) -> None:
    path = staffed.sources[Dataset.SURVEYS].path
    frame = pd.read_excel(path, dtype=str)
    frame.loc[1, "score"] = "7"
    frame = pd.concat([frame, frame.iloc[[0]]])
    frame.to_excel(path, index=False, sheet_name=staffed.sources[Dataset.SURVEYS].sheet or "Sheet1")
    settings = staffed.model_copy(update={"checks": {Dataset.SURVEYS: CheckPolicy(on_failure="stop")}})
    with pytest.raises(EvidenceFailed) as failed:
        check_and_load_evidence(settings, AS_OF)
    first, second = (f"{frame.iloc[i]['response_ref']} / {frame.iloc[i]['question']}" for i in (0, 1))
    assert f"score is not between 1 and 5: 1 row(s): {second} (values: 7)" in str(failed.value)
    assert f"response_ref and question appear together more than once: 2 row(s): {first}" in str(failed.value)
    assert _count(settings, models.SurveyResponse) == 0
