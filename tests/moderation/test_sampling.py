"""Moderation sampling and allocation: size, representation, never a moderator's own audit or team, and the
same seed giving the same sample (hypothesis property tests)."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from qaloop.core.settings import GradeScale
from qaloop.moderation.sampling import allocate_moderators, draw_moderation_sample, sample_size
from tests.properties import examples

SCALE = GradeScale(labels=["Requires improvement", "Adequate", "Good", "Outstanding"], standard="Adequate")


@st.composite
def submitted(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 150))
    auditors = [f"A{i}" for i in range(draw(st.integers(1, 25)))]
    return pd.DataFrame(
        {
            "return_id": draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True)),
            "auditor_id": draw(st.lists(st.sampled_from(auditors), min_size=n, max_size=n)),
            "grade": draw(st.lists(st.sampled_from(SCALE.labels), min_size=n, max_size=n)),
        }
    )


@settings(max_examples=examples(150), deadline=None)
@given(submitted(), st.sampled_from([0.1, 0.2, 0.5, 1.0]), st.integers(0, 2**40))
def test_the_sample_has_its_size_and_represents_grades_and_auditors(
    audits: pd.DataFrame, share: float, seed: int
) -> None:
    sample = draw_moderation_sample(audits, share, 2.0, SCALE, seed)
    n = math.ceil(round(share * len(audits), 9))
    assert len(sample) == sample_size(share, len(audits)) == min(n, len(audits))
    assert sample["return_id"].is_unique and set(sample["return_id"]) <= set(audits["return_id"])
    grades, auditors = set(audits["grade"]), set(audits["auditor_id"])
    if n >= len(grades):
        assert set(sample["grade"]) == grades
    if n >= len(grades) + len(auditors):
        assert set(sample["auditor_id"]) == auditors
    again = draw_moderation_sample(audits.sample(frac=1, random_state=1), share, 2.0, SCALE, seed)
    pd.testing.assert_frame_equal(sample, again)


def test_another_seed_gives_another_sample_and_weight_favours_the_grades_that_matter() -> None:
    audits = pd.DataFrame(
        {"return_id": range(1, 2001), "auditor_id": "A", "grade": (["Good"] * 9 + ["Requires improvement"]) * 200}
    )
    first = draw_moderation_sample(audits, 0.2, 1.0, SCALE, seed=1)
    assert set(first["return_id"]) != set(draw_moderation_sample(audits, 0.2, 1.0, SCALE, seed=2)["return_id"])
    plain = (first["grade"] == "Requires improvement").mean()
    weighted = (draw_moderation_sample(audits, 0.2, 3.0, SCALE, seed=1)["grade"] == "Requires improvement").mean()
    assert 0.05 < plain < 0.16 and weighted > 0.2  # 10 % of audits; tripled weight roughly doubles their share


@st.composite
def to_allocate(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    teams = ["T1", "T2", "T3", None]
    leads = pd.DataFrame(
        {
            "staff_id": [f"P{i}" for i in range(draw(st.integers(1, 6)))],
        }
    )
    leads["team"] = draw(st.lists(st.sampled_from(teams), min_size=len(leads), max_size=len(leads)))
    n = draw(st.integers(0, 40))
    people = [*leads["staff_id"], "A1", "A2", "A3"]
    sample = pd.DataFrame(
        {
            "return_id": range(n),
            "auditor_id": draw(st.lists(st.sampled_from(people), min_size=n, max_size=n)),
            "auditor_team": draw(st.lists(st.sampled_from(teams), min_size=n, max_size=n)),
            "case_team": draw(st.lists(st.sampled_from(teams[:3]), min_size=n, max_size=n)),
        }
    )
    return sample, leads


@settings(max_examples=examples(150), deadline=None)
@given(to_allocate())
def test_no_moderator_judges_their_own_audit_or_their_team_and_load_is_balanced(case: tuple) -> None:
    sample, leads = case
    assignments = allocate_moderators(sample, leads)
    assert [a.return_id for a in assignments] == list(sample["return_id"])
    team = dict(zip(leads["staff_id"], leads["team"], strict=True))
    for assignment, row in zip(assignments, sample.itertuples(index=False), strict=True):
        eligible = [
            s for s in leads["staff_id"]
            if s != row.auditor_id and (pd.isna(team[s]) or team[s] not in {row.auditor_team, row.case_team})
        ]  # fmt: skip
        if not eligible:
            assert assignment.moderator_id is None and assignment.note
            continue
        assert assignment.moderator_id in eligible
    free = leads[leads["team"].isna()]["staff_id"].tolist()
    if len(free) >= 2 and not set(free) & set(sample["auditor_id"]):
        # Leads above team level may take anything: their loads never differ by more than one.
        loads = pd.Series([a.moderator_id for a in assignments]).value_counts()
        free_loads = [loads.get(s, 0) for s in free]
        assert max(free_loads) - min(free_loads) <= 1
