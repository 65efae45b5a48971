"""Selection: the rules of the sample hold for any extract (hypothesis), and the sample is reproducible."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaloop.core.settings import SelectionRules
from qaloop.programmes.eligibility import blocked_workers, stratum_of
from qaloop.programmes.selection import select_cases, stratum_quotas
from tests.properties import examples

AS_OF = date(2026, 11, 23)
AREAS = ["N", "S"]
TYPES = ["assessment", "review"]
STRATA = [stratum_of(area, audit_type) for area in AREAS for audit_type in TYPES]


@st.composite
def extracts(draw: st.DrawFn) -> dict:
    n = draw(st.integers(0, 120))
    workers = [f"W{i}" for i in range(draw(st.integers(1, 30)))]
    cases = pd.DataFrame(
        {
            "case_ref": [f"CR{i:05d}" for i in range(n)],
            "area": draw(st.lists(st.sampled_from(AREAS), min_size=n, max_size=n)),
            "audit_type": draw(st.lists(st.sampled_from(TYPES), min_size=n, max_size=n)),
            "worker_id": draw(st.lists(st.sampled_from(workers), min_size=n, max_size=n)),
            "last_activity_date": [
                AS_OF - timedelta(days=d) for d in draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
            ],
        }
    )
    audited = set(draw(st.lists(st.sampled_from(list(cases["case_ref"]) or ["none"]), max_size=n // 3 + 1)))
    recent = draw(st.lists(st.sets(st.sampled_from(workers)), max_size=4))
    quotas = {stratum: draw(st.integers(0, 12)) for stratum in STRATA}
    rules = SelectionRules(
        look_back_months=draw(st.integers(1, 12)),
        worker_repeat_cycles=draw(st.integers(1, 3)),
        cases_per_worker=draw(st.integers(1, 2)),
        reserve_share=draw(st.sampled_from([0.0, 0.25, 0.5])),
        relaxation_order=draw(st.permutations(["worker_repeat", "cases_per_worker", "look_back"]).map(list)),
    )
    return {"cases": cases, "audited": audited, "recent": recent, "quotas": quotas, "rules": rules}


def run(extract: dict, seed: int = 42, cases: pd.DataFrame | None = None, explain: bool = False):  # noqa: ANN201
    return select_cases(
        extract["cases"] if cases is None else cases,
        extract["quotas"],
        extract["rules"],
        AS_OF,
        seed,
        audited=extract["audited"],
        recent_cycles=extract["recent"],
        explain=explain,
    )


@settings(max_examples=examples(150), deadline=None)
@given(extracts())
def test_the_rules_of_the_sample_hold(extract: dict) -> None:
    selection = run(extract)
    rules: SelectionRules = extract["rules"]
    cases = extract["cases"].set_index("case_ref")
    taken = pd.concat([selection.drawn, selection.reserves], ignore_index=True)
    blocked = blocked_workers(extract["recent"], rules.worker_repeat_cycles)
    cutoff = pd.Timestamp(AS_OF) - pd.DateOffset(months=rules.look_back_months)
    relaxed_for = {(r.stratum, r.rule) for r in selection.relaxations}

    # Never a case the regular programme has audited, and never the same case twice.
    assert not set(taken["case_ref"]) & extract["audited"]
    assert taken["case_ref"].is_unique

    # Quotas met, or the shortfall reported after every rule was relaxed in turn.
    by_stratum = {result.stratum: result for result in selection.strata}
    for stratum, quota in extract["quotas"].items():
        result = by_stratum[stratum]
        assert result.drawn == (selection.drawn["stratum"] == stratum).sum() <= quota
        if result.shortfall:
            assert [r.rule for r in selection.relaxations if r.stratum == stratum] == rules.relaxation_order
            left = cases[
                (cases["area"].astype(str) + "|" + cases["audit_type"].astype(str) == stratum)
                & ~cases.index.isin(extract["audited"])
                & ~cases.index.isin(taken["case_ref"])
            ]
            assert left.empty, "a stratum fell short while eligible cases were left"

    # Each rule holds for every case unless a recorded relaxation of that stratum says otherwise.
    for row in taken.itertuples():
        case = cases.loc[row.case_ref]
        relaxed = set(filter(None, row.relaxed.split(",")))
        assert relaxed <= {rule for stratum, rule in relaxed_for if stratum == row.stratum}
        if row.worker_id in blocked:
            assert "worker_repeat" in relaxed
        if pd.Timestamp(case["last_activity_date"]) < cutoff:
            assert "look_back" in relaxed
    capped = taken[~taken["relaxed"].str.contains("cases_per_worker")]
    assert capped.groupby("worker_id").size().max() <= rules.cases_per_worker if len(capped) else True

    # Reserves: per stratum at most ceil(quota x share), only where the stratum was filled.
    for stratum, count in selection.reserves.groupby("stratum").size().items():
        assert by_stratum[stratum].shortfall == 0
        assert count <= -(-extract["quotas"][stratum] * rules.reserve_share // 1)


@settings(max_examples=examples(60), deadline=None)
@given(extracts(), st.randoms())
def test_the_same_seed_gives_the_same_sample_whatever_the_row_order(extract: dict, shuffle) -> None:  # noqa: ANN001
    first = run(extract)
    order = list(range(len(extract["cases"])))
    shuffle.shuffle(order)
    again = run(extract, cases=extract["cases"].iloc[order].reset_index(drop=True))
    pd.testing.assert_frame_equal(first.drawn, again.drawn)
    pd.testing.assert_frame_equal(first.reserves, again.reserves)
    assert first.relaxations == again.relaxations


def test_another_seed_gives_another_sample() -> None:
    cases = pd.DataFrame(
        {
            "case_ref": [f"CR{i}" for i in range(400)],
            "area": "N",
            "audit_type": "review",
            "worker_id": [f"W{i}" for i in range(400)],
            "last_activity_date": AS_OF,
        }
    )
    extract = {"cases": cases, "audited": set(), "recent": [], "quotas": {"N|review": 20}, "rules": SelectionRules()}
    assert set(run(extract, seed=1).drawn["case_ref"]) != set(run(extract, seed=2).drawn["case_ref"])
    assert list(run(extract, seed=1).drawn["case_ref"]) == list(run(extract, seed=1).drawn["case_ref"])


def test_explain_gives_every_case_its_reason() -> None:
    cases = pd.DataFrame(
        {
            "case_ref": ["A", "B", "C", "D", "E", "F"],
            "area": "N",
            "audit_type": "review",
            "worker_id": ["W1", "W2", "W3", "W3", "W4", "W5"],
            "last_activity_date": [AS_OF, AS_OF, AS_OF, AS_OF, AS_OF - timedelta(days=300), AS_OF],
        }
    )
    extract = {
        "cases": cases,
        "audited": {"A"},
        "recent": [{"W2"}, {"W2"}],
        "quotas": {"N|review": 2},
        "rules": SelectionRules(look_back_months=6, worker_repeat_cycles=2, reserve_share=0),
    }
    reasons = run(extract, explain=True).outcomes.set_index("case_ref")
    assert reasons.loc["A", "reason"] == "already audited by the regular programme"
    assert reasons.loc["B", "reason"] == "the worker was audited in each of the last 2 cycles"
    assert reasons.loc["E", "reason"] == "no recorded activity since 2026-05-23"
    drawn = reasons[reasons["outcome"] == "drawn"]
    assert len(drawn) == 2 and "F" in drawn.index  # W3 may give only one of C and D
    assert drawn.index.isin(["C", "D"]).sum() == 1
    other = ({"C", "D"} - set(drawn.index)).pop()
    assert reasons.loc[other, "reason"] == "the worker already has 1 case(s) in this cycle"


def test_a_short_stratum_relaxes_rules_in_order_and_says_so() -> None:
    cases = pd.DataFrame(
        {
            "case_ref": ["A", "B", "C"],
            "area": "N",
            "audit_type": "review",
            "worker_id": ["W1", "W1", "W2"],
            "last_activity_date": [AS_OF, AS_OF, AS_OF],
        }
    )
    rules = SelectionRules(relaxation_order=["cases_per_worker", "worker_repeat", "look_back"], reserve_share=0)
    extract = {"cases": cases, "audited": set(), "recent": [{"W2"}, {"W2"}], "quotas": {"N|review": 3}, "rules": rules}
    selection = run(extract)
    assert [(r.rule, r.added) for r in selection.relaxations] == [("cases_per_worker", 1), ("worker_repeat", 1)]
    assert dict(zip(selection.drawn["case_ref"], selection.drawn["relaxed"], strict=True))["C"] == (
        "cases_per_worker,worker_repeat"
    )
    assert selection.strata[0].shortfall == 0


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ({"assessment": 0.35, "review": 0.65}, {"N|assessment": 42, "N|review": 78}),
        ({"assessment": 1 / 3, "review": 2 / 3}, {"N|assessment": 40, "N|review": 80}),
        (None, {"N|assessment": 30, "N|review": 90}),  # proportional to the population: 1 in 4
    ],
)
def test_quotas_split_each_area_exactly(shares: dict | None, expected: dict) -> None:
    population = pd.DataFrame({"area": ["N"] * 4, "audit_type": ["assessment", "review", "review", "review"]})
    quotas = stratum_quotas(population, ["N"], TYPES, 120, shares)
    assert quotas == expected
    assert sum(quotas.values()) == 120


def test_a_worker_is_blocked_only_when_audited_in_each_of_the_last_cycles() -> None:
    assert blocked_workers([{"A", "B"}, {"A"}, {"B"}], 2) == {"A"}
    assert blocked_workers([{"A", "B"}, {"A"}, {"B"}], 3) == set()
    assert blocked_workers([{"A"}], 2) == set()
