"""The threshold rules on constructed intelligence: the right providers, and only they, are proposed for each level,
and each reason names its rule and its figures."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaloop.core.settings import ProviderQuality
from qaloop.providers.thresholds import Intelligence, propose, rule_version
from tests.properties import examples

AS_OF = date(2027, 3, 31)
HEREFORDSHIRE = ProviderQuality()  # Appendix 2's thresholds, the default


def market(*providers: tuple[str, str, int], **frames: list[dict]) -> Intelligence:
    """Intelligence about ``providers`` (location id, service type, size), with the rows given per frame."""
    columns = {
        "ratings": ["location_id", "domain", "rating", "published_on"],
        "enforcement": ["location_id", "action_ref", "action", "served_on"],
        "concerns": ["location_id", "concern_ref", "concern", "raised_on", "serious"],
        "returns": ["location_id", "month", "received_on"],
        "notices": ["location_id", "notice_ref", "notice", "served_on", "ends_on"],
        "actions": ["location_id", "action_ref", "due_on", "completed_on"],
    }
    made = {}
    for name, names in columns.items():
        frame = pd.DataFrame(frames.get(name, []), columns=names)
        for column in names:
            if column.endswith("_on"):
                frame[column] = pd.to_datetime(frame[column])
        made[name] = frame
    listed = pd.DataFrame(
        [
            {"location_id": ref, "name": f"Service {ref}", "service_type": kind, "size": size, "area": "NE"}
            for ref, kind, size in providers
        ]
    )
    return Intelligence(providers=listed, **made)


def levels(intel: Intelligence, quality: ProviderQuality = HEREFORDSHIRE, as_of: date = AS_OF) -> dict[str, int]:
    return {ref: proposal.level for ref, proposal in propose(intel, quality, as_of).items()}


def ratings(ref: str, overall: str, published: str = "2026-06-01", **questions: str) -> list[dict]:
    rows = [{"location_id": ref, "domain": "Overall", "rating": overall, "published_on": published}]
    return rows + [
        {"location_id": ref, "domain": domain.replace("_", "-"), "rating": rating, "published_on": published}
        for domain, rating in questions.items()
    ]


GOOD = dict(Safe="Good", Effective="Good", Caring="Good", Responsive="Good", Well_led="Good")


def test_a_provider_with_nothing_against_it_is_level_1_with_no_reason() -> None:
    intel = market(("1-A", "care_home", 30), ratings=ratings("1-A", "Good", **GOOD))
    [proposal] = propose(intel, HEREFORDSHIRE, AS_OF).values()
    assert (proposal.level, proposal.reasons) == (1, ())


def test_cqc_ratings_set_the_levels_appendix_2_gives_them() -> None:
    all_ri = {question: "Requires improvement" for question in GOOD}
    intel = market(
        ("1-INAD", "care_home", 30),
        ("1-RISOME", "care_home", 30),
        ("1-RIALL", "nursing_home", 40),
        ("1-GOOD", "care_home", 30),
        ratings=ratings("1-INAD", "Inadequate", **GOOD)
        + ratings("1-RISOME", "Good", **{**GOOD, "Safe": "Requires improvement"})
        + ratings("1-RIALL", "Requires improvement", **all_ri)
        + ratings("1-GOOD", "Outstanding", **GOOD),
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert {ref: p.level for ref, p in found.items()} == {"1-INAD": 3, "1-RISOME": 2, "1-RIALL": 3, "1-GOOD": 1}
    [inadequate] = found["1-INAD"].reasons
    assert inadequate.rule == "cqc_inadequate"
    assert inadequate.says == "CQC overall rating Inadequate (published 2026-06-01)"
    assert [r.says for r in found["1-RISOME"].reasons] == [
        "1 of 5 CQC key questions rated so: Safe Requires improvement"
    ]
    assert found["1-RIALL"].reasons[0].rule == "cqc_ri_all_areas"
    assert "5 of 5 CQC key questions" in found["1-RIALL"].reasons[0].says


def test_a_key_question_rated_inadequate_is_never_read_as_better_than_requires_improvement() -> None:
    # Found by the property below: an Outstanding home with Effective rated Inadequate was level 1, and the same
    # home with Effective improved to Requires improvement level 2.
    outstanding = {question: "Outstanding" for question in GOOD}
    inadequate = market(
        ("1-X", "care_home", 1), ratings=ratings("1-X", "Outstanding", **{**outstanding, "Effective": "Inadequate"})
    )
    improved = market(
        ("1-X", "care_home", 1),
        ratings=ratings("1-X", "Outstanding", **{**outstanding, "Effective": "Requires improvement"}),
    )
    assert levels(inadequate) == levels(improved) == {"1-X": 2}
    [reason] = propose(inadequate, HEREFORDSHIRE, AS_OF)["1-X"].reasons
    assert (reason.rule, reason.says) == (
        "cqc_ri_some_areas",
        "1 of 5 CQC key questions rated so: Effective Inadequate",
    )


def test_a_rating_published_after_the_day_does_not_count_on_it() -> None:
    intel = market(("1-A", "care_home", 30), ratings=ratings("1-A", "Inadequate", published="2027-04-02"))
    assert levels(intel) == {"1-A": 1}


def test_a_newer_rating_replaces_the_older_one_from_the_day_it_is_published() -> None:
    history = ratings("1-A", "Inadequate", published="2025-05-01", **GOOD) + ratings(
        "1-A", "Good", published="2026-10-01", **GOOD
    )
    intel = market(("1-A", "care_home", 30), ratings=history)
    assert levels(intel) == {"1-A": 1}
    assert levels(intel, as_of=date(2026, 9, 30)) == {"1-A": 3}
    assert levels(intel, as_of=date(2026, 10, 1)) == {"1-A": 1}


def test_cqc_enforcement_counts_within_its_window_and_cancellation_is_major() -> None:
    intel = market(
        ("1-WARN", "care_home", 30),
        ("1-OLD", "care_home", 30),
        ("1-CANCEL", "home_care", 400),
        enforcement=[
            {"location_id": "1-WARN", "action_ref": "E1", "action": "warning notice", "served_on": "2026-11-02"},
            {"location_id": "1-OLD", "action_ref": "E2", "action": "warning notice", "served_on": "2025-12-01"},
            {
                "location_id": "1-CANCEL",
                "action_ref": "E3",
                "action": "notice of proposal to cancel",
                "served_on": "2027-03-01",
            },
        ],
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert {ref: p.level for ref, p in found.items()} == {"1-WARN": 2, "1-OLD": 1, "1-CANCEL": 3}
    assert found["1-WARN"].reasons[0].says == "CQC enforcement in the last 12 months: warning notice served 2026-11-02"


def safeguarding(ref: str, how_many: int, first: str = "2026-06-01") -> list[dict]:
    days = pd.date_range(first, periods=how_many, freq="5D")
    return [
        {"location_id": ref, "concern_ref": f"{ref}-S{n}", "concern": "safeguarding", "raised_on": day, "serious": None}
        for n, day in enumerate(days)
    ]


def test_safeguarding_concerns_are_judged_against_what_a_service_of_its_size_would_have() -> None:
    # Twenty care homes of 30 beds with 2 concerns each set the authority's rate: 1 concern a year per 15 beds.
    homes = [(f"1-H{n:02}", "care_home", 30) for n in range(20)]
    usual = [row for ref, _, _ in homes for row in safeguarding(ref, 2)]
    # A large home (120 beds) with 8 concerns has what its size leads one to expect; a small one (10 beds) with
    # 8 has far more than the 0.7 that 10 beds would have at the others' rate.
    intel = market(
        *homes,
        ("1-LARGE", "care_home", 120),
        ("1-SMALL", "care_home", 10),
        concerns=usual + safeguarding("1-LARGE", 8) + safeguarding("1-SMALL", 8),
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert found["1-LARGE"].level == 1
    assert found["1-SMALL"].level == 2
    [reason] = found["1-SMALL"].reasons
    assert reason.rule == "safeguarding_above_expected"
    assert reason.says.startswith("8 safeguarding concerns in 12 months, where a care home of 10 beds would have 0.")
    assert "95% exact Poisson limit of 3" in reason.says
    assert all(found[ref].level == 1 for ref, _, _ in homes)


def test_concerns_older_than_the_window_or_of_another_kind_do_not_count() -> None:
    homes = [(f"1-H{n:02}", "care_home", 30) for n in range(10)]
    quality = [
        {"location_id": "1-Q", "concern_ref": f"Q{n}", "concern": "quality", "raised_on": day, "serious": None}
        for n, day in enumerate(["2027-01-10", "2027-02-10", "2027-03-10"])
    ]
    intel = market(
        *homes,
        ("1-OLD", "care_home", 10),
        ("1-Q", "care_home", 30),
        concerns=safeguarding("1-OLD", 8, first="2025-06-01") + quality,
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert found["1-OLD"].level == 1
    assert [(r.rule, r.says) for r in found["1-Q"].reasons] == [
        ("repeated_quality_concerns", "3 quality concerns in 6 months (3 or more)")
    ]


def test_monitoring_returns_missing_months_running_count_back_from_the_last_one_due() -> None:
    def month_rows(ref: str, received: dict[str, str | None]) -> list[dict]:
        return [{"location_id": ref, "month": month, "received_on": on} for month, on in received.items()]

    intel = market(
        ("1-LATE", "home_care", 300),
        ("1-GAP", "home_care", 300),
        ("1-ONTIME", "home_care", 300),
        returns=month_rows("1-LATE", {"2026-12": "2027-01-05", "2027-01": None, "2027-02": None, "2027-03": None})
        + month_rows("1-GAP", {"2026-12": None, "2027-01": "2027-02-04", "2027-02": None})
        + month_rows("1-ONTIME", {"2027-01": "2027-02-03", "2027-02": "2027-03-30"}),
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert {ref: p.level for ref, p in found.items()} == {"1-LATE": 2, "1-GAP": 1, "1-ONTIME": 1}
    # March's return is not due until March is over.
    assert found["1-LATE"].reasons[0].says == "monthly monitoring return missing 2 months running: 2027-01, 2027-02"


def test_improvement_actions_overdue_and_contract_notices() -> None:
    intel = market(
        ("1-OVERDUE", "care_home", 30),
        ("1-JUSTDUE", "care_home", 30),
        ("1-DEFAULT", "care_home", 30),
        ("1-SUSPENDED", "care_home", 30),
        ("1-LIFTED", "care_home", 30),
        actions=[
            {"location_id": "1-OVERDUE", "action_ref": "A1", "due_on": "2027-02-01", "completed_on": None},
            {"location_id": "1-JUSTDUE", "action_ref": "A2", "due_on": "2027-03-25", "completed_on": None},
            {"location_id": "1-DEFAULT", "action_ref": "A3", "due_on": "2027-01-01", "completed_on": "2027-01-02"},
        ],
        notices=[
            {"location_id": "1-DEFAULT", "notice_ref": "N1", "notice": "default", "served_on": "2027-02-01"},
            {
                "location_id": "1-SUSPENDED",
                "notice_ref": "N2",
                "notice": "placement suspension",
                "served_on": "2026-11-15",
            },
            {
                "location_id": "1-LIFTED",
                "notice_ref": "N3",
                "notice": "placement suspension",
                "served_on": "2026-06-01",
                "ends_on": "2026-09-01",
            },
        ],
    )
    found = propose(intel, HEREFORDSHIRE, AS_OF)
    assert {ref: p.level for ref, p in found.items()} == {
        "1-OVERDUE": 2,
        "1-JUSTDUE": 1,
        "1-DEFAULT": 2,
        "1-SUSPENDED": 3,
        "1-LIFTED": 1,
    }
    assert found["1-OVERDUE"].reasons[0].says == (
        "1 improvement plan action(s) more than 14 days overdue (the oldest due 2027-02-01)"
    )
    assert [r.rule for r in found["1-SUSPENDED"].reasons] == ["suspension_over_3_months", "advisory_or_suspension"]
    assert found["1-SUSPENDED"].reasons[0].says == (
        "placement suspension in place since 2026-11-15 (more than 3 months)"
    )


def test_the_rules_are_the_councils_own_and_their_version_changes_with_them() -> None:
    stricter = ProviderQuality(
        rules=[{"id": "any_ri", "level": 3, "kind": "cqc_overall", "ratings": ["Requires improvement"]}]
    )
    intel = market(("1-A", "care_home", 30), ratings=ratings("1-A", "Requires improvement"))
    assert levels(intel, HEREFORDSHIRE) == {"1-A": 2} and levels(intel, stricter) == {"1-A": 3}
    assert rule_version(HEREFORDSHIRE) == rule_version(ProviderQuality())
    assert rule_version(HEREFORDSHIRE) != rule_version(stricter)


RATING_WORDS = ["Outstanding", "Good", "Requires improvement", "Inadequate"]  # best first


@st.composite
def intelligence_and_better(draw: st.DrawFn) -> tuple[Intelligence, Intelligence]:
    """A market of a few care homes, and the same market where home 1-X's intelligence only improved: ratings
    no worse, fewer concerns, more returns in, actions completed, notices lifted."""
    homes = [("1-X", "care_home", draw(st.integers(1, 80)))] + [
        (f"1-O{n}", "care_home", draw(st.integers(1, 80))) for n in range(draw(st.integers(0, 5)))
    ]
    rows: dict[str, list[dict]] = {"ratings": [], "concerns": [], "returns": [], "notices": [], "actions": []}
    better: dict[str, list[dict]] = {name: [] for name in rows}
    for ref, _, _ in homes:
        mine = ref == "1-X"
        rated_down = draw(st.booleans())  # otherwise Good in every domain, so that the other rules decide
        for domain in ["Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"]:
            worse_index = draw(st.integers(0, 3)) if rated_down else 1
            row = {
                "location_id": ref,
                "domain": domain,
                "rating": RATING_WORDS[worse_index],
                "published_on": "2026-06-01",
            }
            rows["ratings"].append(row)
            improved = draw(st.integers(0, worse_index)) if mine else worse_index
            better["ratings"].append({**row, "rating": RATING_WORDS[improved]})
        for kind in ["safeguarding", "quality"]:
            for n in range(draw(st.integers(0, 8)) if draw(st.booleans()) else 0):
                row = {
                    "location_id": ref,
                    "concern_ref": f"{ref}-{kind}-{n}",
                    "concern": kind,
                    "raised_on": f"2027-0{1 + n % 3}-1{n % 9}",
                    "serious": None,
                }
                rows["concerns"].append(row)
                if not (mine and draw(st.booleans())):
                    better["concerns"].append(row)
        for month in ["2026-12", "2027-01", "2027-02"]:
            received = draw(st.booleans())
            row = {"location_id": ref, "month": month, "received_on": f"{month}-20" if received else None}
            rows["returns"].append(row)
            better["returns"].append({**row, "received_on": f"{month}-20"} if mine and draw(st.booleans()) else row)
        if draw(st.integers(0, 3)) == 0:
            row = {
                "location_id": ref,
                "notice_ref": f"{ref}-N",
                "notice": draw(st.sampled_from(["default", "further default", "advisory", "placement suspension"])),
                "served_on": draw(st.sampled_from(["2026-06-01", "2027-02-01"])),
                "ends_on": None,
            }
            rows["notices"].append(row)
            better["notices"].append({**row, "ends_on": "2027-03-01"} if mine and draw(st.booleans()) else row)
        if draw(st.booleans()):
            row = {"location_id": ref, "action_ref": f"{ref}-A", "due_on": "2027-01-15", "completed_on": None}
            rows["actions"].append(row)
            better["actions"].append({**row, "completed_on": "2027-01-10"} if mine and draw(st.booleans()) else row)
    return market(*homes, **rows), market(*homes, **better)


@settings(max_examples=examples(200), deadline=None)
@given(intelligence_and_better())
def test_a_provider_whose_intelligence_only_improves_is_never_proposed_for_a_higher_level(
    pair: tuple[Intelligence, Intelligence],
) -> None:
    before, after = pair
    assert levels(after)["1-X"] <= levels(before)["1-X"]
    # And by each rule alone, so that no other rule's finding hides it; except the rules on rating words, which
    # are monotone only together (Inadequate improving to Requires improvement meets the Requires improvement
    # rule: the set above covers them).
    for rule in HEREFORDSHIRE.rules:
        if rule.kind in ("cqc_overall", "cqc_key_questions"):
            continue
        alone = ProviderQuality(rules=[rule])
        assert levels(after, alone)["1-X"] <= levels(before, alone)["1-X"], rule.id


@settings(max_examples=examples(200), deadline=None)
@given(intelligence_and_better())
def test_the_same_intelligence_and_rules_give_the_same_proposals(pair: tuple[Intelligence, Intelligence]) -> None:
    intel, _ = pair
    assert propose(intel, ProviderQuality(), AS_OF) == propose(intel, HEREFORDSHIRE, AS_OF)


@pytest.mark.parametrize("level", [2, 3])
def test_a_rule_proposes_only_the_level_it_points_to(level: int) -> None:
    rule = {"id": "ri", "level": level, "kind": "cqc_overall", "ratings": ["Requires improvement"]}
    intel = market(("1-A", "care_home", 30), ratings=ratings("1-A", "Requires improvement"))
    assert levels(intel, ProviderQuality(rules=[rule])) == {"1-A": level}
