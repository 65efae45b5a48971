"""Triangulation on constructed evidence: the right teams, and only they, are flagged."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from qaloop.core.settings import Triangulation
from qaloop.reporting.triangulation import Evidence, Window, compare, themes, windows

TEAMS = [f"Team {letter}" for letter in "ABCDEFGH"]


def _evidence(
    good: dict[str, int] | None = None,
    complaints: dict[str, int] | None = None,
    upheld_lgo: tuple[str, ...] = (),
    satisfied: dict[str, int] | None = None,
    compliments: dict[str, int] | None = None,
) -> Evidence:
    """Eight teams of 500 open cases in one area; each has 20 audits (12 good), 5 complaints (2 upheld),
    10 compliments and 50 survey answers (35 satisfied) unless told otherwise."""
    good, complaints, satisfied = good or {}, complaints or {}, satisfied or {}
    compliments = compliments or {}
    audits, said, answers, praise = [], [], [], []
    for team in TEAMS:
        hits = good.get(team, 12)
        audits += [{"area": "North", "team": team, "good": i < hits, "below_standard": i >= 16} for i in range(20)]
        count = complaints.get(team, 5)
        said += [
            {"area": "North", "team": team, "theme": "delay", "outcome": "upheld" if i < 2 else "not upheld"}
            for i in range(count)
        ]
        happy = satisfied.get(team, 35)
        answers.append({"area": "North", "team": team, "answers": 50, "satisfied": happy})
        praise += [{"area": "North", "team": team, "theme": "kindness"} for _ in range(compliments.get(team, 10))]
    ombudsman = [{"area": "North", "team": team, "theme": "delay", "outcome": "upheld"} for team in upheld_lgo]
    return Evidence(
        audits=pd.DataFrame(audits),
        open_cases=pd.DataFrame({"area": "North", "team": TEAMS, "open_cases": 500}),
        complaints=pd.DataFrame(said),
        ombudsman=pd.DataFrame(ombudsman, columns=["area", "team", "theme", "outcome"]),
        compliments=pd.DataFrame(praise),
        surveys=pd.DataFrame(answers),
    )


RULES = Triangulation(confidence=0.95, min_sources=2, satisfied_from=4)


def _flagged(table: pd.DataFrame) -> list[str]:
    return sorted(table.loc[table["flagged"], "unit"])


def test_only_teams_where_two_sources_converge_are_flagged() -> None:
    evidence = _evidence(
        good={"Team A": 2, "Team B": 2, "Team D": 3},  # low audit grades
        complaints={"Team A": 25, "Team C": 25},  # many complaints
        upheld_lgo=("Team D",),  # an Ombudsman finding
        satisfied={"Team E": 10},  # unhappy survey answers, and nothing else
    )
    table = compare(evidence, RULES, "team").table.set_index("unit")
    assert _flagged(table.reset_index()) == ["Team A", "Team D"]
    assert table.loc["Team A", "signals"] == "audits, complaints"
    assert table.loc["Team B", "signals"] == "audits"
    assert table.loc["Team C", "signals"] == "complaints"
    assert table.loc["Team D", "signals"] == "audits, Ombudsman"
    assert table.loc["Team E", "signals"] == "surveys"
    assert table.loc["Team F", "signals"] == ""
    assert table.loc["Team A", "complaints_per_100"] == pytest.approx(5.0)


def test_the_funnel_limit_is_the_exact_binomial_test_at_the_authoritys_share_for_the_teams_size() -> None:
    # Authority: (7 * 12 + g) / 160 good; Team H has g good of 20. With g = 6: p = 0.5625 and P(X <= 6) =
    # 0.0162 for X ~ Binomial(20, p), below 0.025: beyond. With g = 7: p = 0.56875, P(X <= 7) = 0.0407: within
    # (the normal approximation's limit, 0.3516, put 7 / 20 = 0.35 beyond it: a false alarm of the old funnel).
    for good, signals in ((6, True), (7, False), (8, False)):
        table = compare(_evidence(good={"Team H": good}), RULES, "team").table.set_index("unit")
        assert (table.loc["Team H", "signals"] == "audits") is signals, good


def test_a_team_with_too_little_to_judge_on_a_source_says_so_and_is_not_flagged_on_it() -> None:
    evidence = _evidence(complaints={"Team A": 0})
    evidence = Evidence(
        audits=evidence.audits[~((evidence.audits["team"] == "Team B") & (evidence.audits.index % 20 > 0))],
        open_cases=evidence.open_cases,
        complaints=evidence.complaints,
        ombudsman=evidence.ombudsman,
        compliments=evidence.compliments[evidence.compliments["team"] != "Team C"],
        surveys=evidence.surveys[evidence.surveys["team"] != "Team D"],
    )
    table = compare(evidence, RULES, "team").table.set_index("unit")
    assert table.loc["Team B", "audits"] == 1
    assert table.loc["Team B", "too_few"] == "audits"  # one audit cannot be below the limit
    assert table.loc["Team D", "too_few"] == "surveys"  # no answers
    assert table.loc["Team A", "too_few"] == ""  # no complaints is a figure: fewer cannot signal, more can
    assert table.loc["Team C", "signals"] == "compliments"  # none against about 10 expected
    assert table.loc["Team F", "too_few"] == ""


def test_the_comparison_says_how_each_measure_was_judged() -> None:
    methods = compare(_evidence(), RULES, "team").methods.set_index("measure")
    assert methods.loc["share of audits good or better", "method"] == "exact binomial limits"
    assert methods.loc["complaints per open case", "method"] == "exact Poisson limits"
    assert methods.loc["compliments per open case", "signals"] == "signals concern when below the lower limit"


def test_one_team_differing_everywhere_flags_its_area_only_when_the_area_differs() -> None:
    evidence = _evidence(
        good={"Team A": 0}, complaints={"Team A": 30}, satisfied={"Team A": 5}, compliments={"Team A": 0}
    )
    assert _flagged(compare(evidence, RULES, "team").table) == ["Team A"]
    assert compare(evidence, RULES, "team").table.set_index("unit").loc["Team A", "sources"] == 4
    # A single area is the authority: it cannot differ from itself.
    assert compare(evidence, RULES, "area").table["signals"].tolist() == [""]


def test_themes_rising_beyond_chance_are_called_out() -> None:
    before = _evidence()
    now = _evidence(complaints={team: 12 for team in TEAMS})  # 96 delay complaints against 40 before
    table = themes(now, [before, before], RULES).set_index("theme")
    assert table.loc["delay", "complaints"] == 96
    assert table.loc["delay", "complaints_before"] == 40
    assert bool(table.loc["delay", "rising"])
    steady = themes(_evidence(complaints={"Team A": 8}), [before], RULES).set_index("theme")
    assert not bool(steady.loc["delay", "rising"])


def test_windows_are_whole_months_ending_before_the_run() -> None:
    assert windows(date(2026, 12, 4), 3, 1) == [
        Window(date(2026, 9, 1), date(2026, 11, 30)),
        Window(date(2026, 6, 1), date(2026, 8, 31)),
    ]
    assert windows(date(2027, 1, 4), 1, 0) == [Window(date(2026, 12, 1), date(2026, 12, 31))]
