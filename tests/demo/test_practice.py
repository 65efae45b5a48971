"""The demo county's practice gives the reports something to find: one team drifting down, one area stepping
up, an audit type new to the programme, and answers that follow the grade."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings, load_settings
from qaloop.demo.practice import MCA_CYCLES, MCA_TYPE, STEP_CYCLES_AGO, answers, practice
from qaloop.demo.synthetic import PAST_CYCLES, SyntheticAuthority, _teams, generate
from tests.conftest import DEMO_CONFIG


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(DEMO_CONFIG)


@pytest.fixture(scope="module")
def history(settings: Settings) -> pd.DataFrame:
    authority: SyntheticAuthority = generate(settings, as_of=date(2026, 11, 22), seed=1)
    cases = authority[Dataset.CASES].set_index("case_ref")
    names = {area.code: area.name for area in settings.authority.areas}
    frame = authority[Dataset.AUDIT_HISTORY].copy()
    frame["team"] = cases.loc[frame["case_ref"], "team"].to_numpy()
    frame["area"] = cases.loc[frame["case_ref"], "area"].map(names).to_numpy()
    frame["audit_type"] = cases.loc[frame["case_ref"], "audit_type"].to_numpy()
    frame["rank"] = frame["grade"].map(settings.grade_scale.labels.index)
    order = sorted(
        frame["cycle_ref"].unique(), key=lambda ref: frame.loc[frame["cycle_ref"] == ref].iloc[0].selection_date
    )
    frame["cycle"] = frame["cycle_ref"].map({ref: i for i, ref in enumerate(order)})
    county = practice(settings, _teams(authority[Dataset.STAFF]), latest=PAST_CYCLES)
    return frame.assign(drifting=frame["team"] == county.drifting_team, stepped=frame["area"] == county.stepped_area)


def test_one_team_drifts_down_over_the_cycles(history: pd.DataFrame) -> None:
    team, others = history[history["drifting"]], history[~history["drifting"] & ~history["stepped"]]
    # Grades are whole ranks clipped to the scale, so the fall per cycle shows a little under DRIFT_PER_CYCLE.
    assert np.polyfit(team["cycle"], team["rank"], 1)[0] < -0.05
    assert abs(np.polyfit(others["cycle"], others["rank"], 1)[0]) < 0.03


def test_one_area_steps_up_from_its_new_practice_model(history: pd.DataFrame) -> None:
    area = history[history["stepped"]]
    step = PAST_CYCLES - STEP_CYCLES_AGO
    before, after = area[area["cycle"] <= step]["rank"].mean(), area[area["cycle"] > step]["rank"].mean()
    others = history[~history["stepped"]]
    assert after - before > 0.5, (before, after)
    assert abs(others[others["cycle"] > step]["rank"].mean() - others[others["cycle"] <= step]["rank"].mean()) < 0.2


def test_mental_capacity_act_audits_joined_the_programme_recently(history: pd.DataFrame) -> None:
    cycles = sorted(history.loc[history["audit_type"] == MCA_TYPE, "cycle"].unique())
    assert cycles == list(range(PAST_CYCLES - MCA_CYCLES + 1, PAST_CYCLES))


def test_answers_fall_short_of_the_standard_more_often_the_lower_the_grade() -> None:
    rng = np.random.default_rng(5)
    questions = [f"Q{i}" for i in range(8)]
    short = {
        rank: np.mean([list(answers(rng, rank, questions, ["Yes", "No", "Not applicable"]).values()).count("No")
                       for _ in range(300)]) / len(questions)
        for rank in range(4)
    }  # fmt: skip
    assert short[0] > short[1] > short[2] > short[3] > 0
    assert short[0] > 0.5 and short[3] < 0.1
