"""The synthetic authority: deterministic from its seed, and shaped like a real adult social care service."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from qaloop.core.roles import Role
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.core.settings import Settings, load_settings
from qaloop.demo.synthetic import PAST_CYCLES, SyntheticAuthority, generate, write_extracts
from qaloop.sources.readers import read_dataset, typed
from tests.conftest import DEMO_CONFIG

AS_OF = date(2026, 11, 22)


@pytest.fixture(scope="module")
def authority() -> SyntheticAuthority:
    return generate(load_settings(DEMO_CONFIG), as_of=AS_OF, seed=7)


def test_the_same_seed_gives_the_same_authority_and_another_seed_does_not(settings: Settings) -> None:
    first = generate(settings, as_of=AS_OF, seed=3, cases=3_000)
    second = generate(settings, as_of=AS_OF, seed=3, cases=3_000)
    other = generate(settings, as_of=AS_OF, seed=4, cases=3_000)
    for dataset in EXTRACTS:
        pd.testing.assert_frame_equal(first[dataset], second[dataset])
    assert not first[Dataset.CASES].equals(other[Dataset.CASES])
    assert not first[Dataset.STAFF]["name"].equals(other[Dataset.STAFF]["name"])


def test_it_is_the_size_of_a_county(authority: SyntheticAuthority) -> None:
    staff, cases = authority[Dataset.STAFF], authority[Dataset.CASES]
    assert len(cases) == 25_000
    assert 550 <= len(staff) <= 650
    assert staff["team"].nunique() == 40
    assert set(cases["area"]) == {"NE", "MID", "SOUTH", "WEST"}
    caseloads = cases[cases["end_date"].isna()].groupby("worker_id").size()
    assert 10 <= caseloads.median() <= 40  # open cases per worker, as in a real locality team


def test_the_hierarchy_is_consistent(authority: SyntheticAuthority) -> None:
    staff = authority[Dataset.STAFF].set_index("staff_id")
    assert staff.index.is_unique and staff["email"].is_unique
    managers = staff.loc[staff["line_manager_id"].dropna()]
    assert len(managers) == staff["line_manager_id"].notna().sum()  # every line manager exists
    reports = staff[staff["line_manager_id"].notna()]
    manager_of = staff.loc[reports["line_manager_id"]]
    ranks = [Role(role).seniority for role in reports["role"]]
    manager_ranks = [Role(role).seniority for role in manager_of["role"]]
    assert all(m > r or (m == r == Role.DIRECTOR.seniority) for r, m in zip(ranks, manager_ranks, strict=True))
    team_members = staff[staff["role"].isin([Role.PRACTITIONER, Role.SENIOR_PRACTITIONER])]
    their_managers = staff.loc[team_members["line_manager_id"]]
    assert (their_managers["role"] == Role.TEAM_MANAGER).all()
    assert (their_managers["team"].to_numpy() == team_members["team"].to_numpy()).all()
    per_team = staff[staff["role"] == Role.TEAM_MANAGER].groupby("team").size()
    assert (per_team == 1).all() and len(per_team) == staff["team"].nunique()
    assert (
        staff.dropna(subset=["leave_start"])["leave_end"] >= staff.dropna(subset=["leave_start"])["leave_start"]
    ).all()


def test_every_case_belongs_to_an_existing_worker_in_their_team(
    authority: SyntheticAuthority, settings: Settings
) -> None:
    staff = authority[Dataset.STAFF].set_index("staff_id")
    cases = authority[Dataset.CASES]
    assert cases["case_ref"].is_unique
    workers = staff.loc[cases["worker_id"]]
    assert set(workers["role"]) <= {Role.PRACTITIONER, Role.SENIOR_PRACTITIONER}
    assert (workers["team"].to_numpy() == cases["team"].to_numpy()).all()
    assert set(cases["audit_type"]) == {audit_type.id for audit_type in settings.audit_types}
    assert (cases["last_activity_date"] >= cases["start_date"]).all()
    assert (cases["last_activity_date"] > AS_OF - timedelta(days=366)).all()
    assert (cases["last_activity_date"] <= AS_OF).all()
    ended = cases.dropna(subset=["end_date"])
    assert (ended["end_date"] >= ended["start_date"]).all()


def test_case_data_carries_references_only(authority: SyntheticAuthority) -> None:
    staff = authority[Dataset.STAFF]
    people = set(staff["name"]) | set(staff["email"])
    for dataset in (Dataset.CASES, Dataset.AUDIT_HISTORY, Dataset.COMPLAINTS, Dataset.COMPLIMENTS, Dataset.SURVEYS):
        frame = authority[dataset]
        assert not {"name", "email"} & set(frame.columns)
        # Every single word and every pair of adjacent words, so "First Last" anywhere in a cell is found.
        phrases = set()
        for column in frame:
            for value in frame[column].dropna().astype(str).unique():
                words = value.split()
                phrases.update(words)
                phrases.update(" ".join(pair) for pair in zip(words, words[1:], strict=False))
        assert not people & phrases, f"{dataset.value} contains a member of staff's name or email"


def test_the_audit_history_is_plausible_cycles(authority: SyntheticAuthority, settings: Settings) -> None:
    history = authority[Dataset.AUDIT_HISTORY]
    staff = authority[Dataset.STAFF].set_index("staff_id")
    cases = authority[Dataset.CASES].set_index("case_ref")
    assert history["cycle_ref"].nunique() == PAST_CYCLES
    per_cycle = settings.calendar.audits_per_area * len(settings.authority.areas)
    assert (history.groupby("cycle_ref").size() == per_cycle).all()
    assert history["case_ref"].is_unique  # the regular programme audits a case once
    assert not history.duplicated(["cycle_ref", "worker_id"]).any()  # one case per worker per cycle
    assert (history["selection_date"] < AS_OF).all()
    auditors = staff.loc[history["auditor_id"]]
    assert all(Role(role).can_audit for role in auditors["role"])
    audited_teams = cases.loc[history["case_ref"], "team"].to_numpy()
    assert (auditors["team"].to_numpy() != audited_teams).all()
    mix = history["grade"].value_counts(normalize=True)
    assert set(mix.index) == set(settings.grade_scale.labels)
    below = sum(share for grade, share in mix.items() if settings.grade_scale.below_standard(grade))
    assert 0.05 < below < 0.35


def test_the_citizen_evidence_is_present(authority: SyntheticAuthority) -> None:
    complaints = authority[Dataset.COMPLAINTS]
    assert 200 <= len(complaints) <= 400
    assert set(complaints["outcome"]) <= {"upheld", "partly upheld", "not upheld", "open"}
    assert complaints.loc[complaints["outcome"] == "open", "response_days"].isna().all()
    assert (authority[Dataset.OMBUDSMAN]["decided_on"] <= AS_OF).all()
    surveys = authority[Dataset.SURVEYS]
    assert surveys["score"].between(1, 5).all()
    assert not surveys.duplicated(["response_ref", "question"]).any()


def test_the_extracts_read_back_through_the_configured_sources(settings: Settings) -> None:
    authority = generate(settings, as_of=AS_OF, seed=5, cases=2_000)
    written = write_extracts(authority, settings)
    assert set(written) == set(EXTRACTS)
    assert "Case Reference" in written[Dataset.CASES].read_text().splitlines()[0]  # the case system's own names
    for dataset in EXTRACTS:
        source = settings.sources[dataset]
        frame = typed(read_dataset(settings, dataset), dataset, source.date_format)
        original = authority[dataset]
        assert len(frame) == len(original)
        assert frame.iloc[:, 0].tolist() == original.iloc[:, 0].astype(str).tolist()
    cases = typed(read_dataset(settings, Dataset.CASES), Dataset.CASES, "%d/%m/%Y")
    assert cases["start_date"].dt.date.tolist() == authority[Dataset.CASES]["start_date"].tolist()
