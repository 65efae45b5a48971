"""Managers' monthly audits: the rules hold for any caseload and management structure (hypothesis), and
the draw is the same for the same inputs in any order."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from qaloop.core.settings import SelectionRules
from qaloop.programmes.eligibility import blocked_workers
from qaloop.programmes.managers_monthly import draw_for_managers
from tests.properties import examples

AS_OF = date(2026, 11, 23)
TEAMS = [f"Team {i}" for i in range(6)]


@st.composite
def months(draw: st.DrawFn) -> dict:
    n = draw(st.integers(0, 90))
    workers = [f"W{i}" for i in range(draw(st.integers(1, 20)))]
    cases = pd.DataFrame(
        {
            "case_ref": [f"CR{i:05d}" for i in range(n)],
            "team": draw(st.lists(st.sampled_from(TEAMS), min_size=n, max_size=n)),
            "worker_id": draw(st.lists(st.sampled_from(workers), min_size=n, max_size=n)),
            "last_activity_date": [
                AS_OF - timedelta(days=d) for d in draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
            ],
        }
    )
    managers = {
        f"M{i}": draw(st.sets(st.sampled_from(TEAMS), min_size=1, max_size=2)) for i in range(draw(st.integers(1, 8)))
    }
    return {
        "cases": cases,
        "managers": managers,
        "per_manager": draw(st.integers(1, 4)),
        "rules": SelectionRules(
            look_back_months=draw(st.integers(1, 12)),
            worker_repeat_cycles=draw(st.integers(1, 3)),
            cases_per_worker=draw(st.integers(1, 3)),
        ),
        "audited": set(draw(st.lists(st.sampled_from(list(cases["case_ref"]) or ["none"]), max_size=n // 3 + 1))),
        "recent": draw(st.lists(st.sets(st.sampled_from(workers)), max_size=3)),
        "seed": draw(st.integers(0, 2**32)),
    }


def _draw(month: dict, cases: pd.DataFrame | None = None) -> pd.DataFrame:
    return draw_for_managers(
        month["cases"] if cases is None else cases, month["managers"], month["per_manager"], month["rules"], AS_OF,
        month["seed"], audited=month["audited"], recent_cycles=month["recent"],
    ).drawn  # fmt: skip


@settings(max_examples=examples(150), deadline=None)
@given(months())
def test_each_manager_gets_their_cases_never_from_their_own_teams_and_the_rules_hold(month: dict) -> None:
    result = draw_for_managers(
        month["cases"], month["managers"], month["per_manager"], month["rules"], AS_OF, month["seed"],
        audited=month["audited"], recent_cycles=month["recent"],
    )  # fmt: skip
    drawn, rules = result.drawn, month["rules"]
    assert drawn["case_ref"].is_unique
    assert not set(drawn["case_ref"]) & month["audited"]
    per_manager = drawn.groupby("manager_id").size()
    assert (per_manager <= month["per_manager"]).all()
    for manager, teams in month["managers"].items():
        assert not set(drawn.loc[drawn["manager_id"] == manager, "team"]) & teams
        got = int(per_manager.get(manager, 0))
        assert result.short.get(manager, 0) == month["per_manager"] - got
        if manager in result.short:  # short only when nothing outside their teams is left at all
            left = month["cases"][
                ~month["cases"]["team"].isin(teams)
                & ~month["cases"]["case_ref"].isin(month["audited"] | set(drawn["case_ref"]))
            ]
            assert left.empty
    strict = drawn[drawn["relaxed"] == ""]
    dates = month["cases"].set_index("case_ref")["last_activity_date"]
    cutoff = pd.Timestamp(AS_OF) - pd.DateOffset(months=rules.look_back_months)
    assert (pd.to_datetime(strict["case_ref"].map(dates)) >= cutoff).all()
    assert not set(strict["worker_id"]) & blocked_workers(month["recent"], rules.worker_repeat_cycles)
    capped = drawn[~drawn["relaxed"].str.contains("cases_per_worker")]
    assert (capped.groupby("worker_id").size() <= rules.cases_per_worker).all()


@settings(max_examples=examples(60), deadline=None)
@given(months(), st.randoms(use_true_random=False))
def test_the_same_inputs_in_any_order_give_the_same_draw(month: dict, random) -> None:  # noqa: ANN001
    shuffled = month["cases"].sample(frac=1, random_state=random.randint(0, 10**6)).reset_index(drop=True)
    assert _draw(month).equals(_draw(month, shuffled))
