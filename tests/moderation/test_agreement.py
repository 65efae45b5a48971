"""Agreement figures: hand-worked small cases, and scikit-learn's independent kappa on generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from bench.kappa_coverage import POPULATIONS, coverage
from qaloop.moderation.agreement import (
    agreement,
    agreement_table,
    feedback_flags,
    flagged_auditors,
    kappa_said,
    weighted_kappa,
)
from tests.properties import examples


def test_perfect_agreement_is_one_and_exact() -> None:
    figures = agreement(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3]), levels=4)
    assert (figures.exact, figures.within_one, figures.kappa) == (1.0, 1.0, 1.0)
    assert figures.auditor_higher == figures.auditor_lower == 0.0


def test_a_hand_worked_case() -> None:
    # Two grades, four audits: auditor 0,0,1,1 and moderator 0,1,1,1. Observed proportions
    # [[.25,.25],[0,.5]]; margins auditor (.5,.5), moderator (.25,.75); expected [[.125,.375],[.125,.375]].
    # With two levels the quadratic weight of a disagreement is 1: kappa = 1 - .25 / (.375 + .125) = 0.5.
    assert weighted_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), levels=2) == pytest.approx(0.5)
    figures = agreement(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), levels=2)
    assert (figures.exact, figures.auditor_lower, figures.auditor_higher) == (0.75, 0.25, 0.0)


def test_a_hand_worked_ordered_case() -> None:
    # Three grades: auditor 0,1,2 against moderator 1,1,1. Quadratic weights (d/2)^2: observed disagreement
    # (.25 + 0 + .25) / 3 = 1/6; expected with the moderator always 1: the same 1/6, so kappa = 0.
    assert weighted_kappa(np.array([0, 1, 2]), np.array([1, 1, 1]), levels=3) == pytest.approx(0.0)
    assert agreement(np.array([0, 1, 2]), np.array([1, 1, 1]), levels=3).within_one == 1.0


def test_kappa_is_undefined_when_nobody_varies() -> None:
    assert weighted_kappa(np.array([2, 2, 2]), np.array([2, 2, 2]), levels=4) is None
    assert agreement(np.array([]), np.array([]), levels=4).kappa is None


# scikit-learn warns where kappa is undefined (one grade all round): that case is asserted below.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@settings(max_examples=examples(200), deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda levels: st.tuples(
            st.just(levels),
            st.lists(st.tuples(st.integers(0, levels - 1), st.integers(0, levels - 1)), min_size=1, max_size=80),
        )
    )
)
def test_kappa_matches_scikit_learn(case: tuple[int, list[tuple[int, int]]]) -> None:
    levels, pairs = case
    auditor = np.array([a for a, _ in pairs])
    moderator = np.array([m for _, m in pairs])
    ours = weighted_kappa(auditor, moderator, levels)
    theirs = cohen_kappa_score(auditor, moderator, weights="quadratic", labels=list(range(levels)))
    if ours is None:
        assert np.isnan(theirs)
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_the_bootstrap_interval_holds_kappa_and_is_reproducible() -> None:
    rng = np.random.default_rng(3)
    auditor = rng.integers(0, 4, 200)
    moderator = np.clip(auditor + rng.choice([-1, 0, 0, 0, 1], 200), 0, 3)
    first = agreement(auditor, moderator, levels=4, seed=9)
    assert first.kappa_low < first.kappa < first.kappa_high
    assert first == agreement(auditor, moderator, levels=4, seed=9)
    assert first.kappa == pytest.approx(cohen_kappa_score(auditor, moderator, weights="quadratic"))


def test_tables_by_group_and_flags_for_systematic_graders() -> None:
    pairs = pd.DataFrame(
        {
            "auditor_id": ["A"] * 6 + ["B"] * 6 + ["C"] * 2,
            "audit_type": ["x", "y"] * 7,
            "auditor_rank": [3, 3, 3, 2, 3, 3] + [1, 2, 1, 2, 1, 2] + [0, 0],
            "moderator_rank": [2, 2, 2, 1, 2, 3] + [1, 2, 1, 2, 1, 2] + [3, 3],
        }
    )
    table = agreement_table(pairs, ["auditor_id"], levels=4)
    assert table["auditor_id"].tolist() == ["A", "B", "C", "all"]
    assert table.set_index("auditor_id").loc["B", "exact"] == 1.0
    assert table.set_index("auditor_id").loc["all", "audits"] == 14
    flagged = flagged_auditors(pairs, threshold=0.5, min_audits=5)
    assert flagged[["auditor_id", "direction"]].values.tolist() == [
        ["A", "grades higher than moderation"]
    ]  # C: too few


def test_auditors_whose_feedback_seldom_names_strengths_and_learning_are_flagged() -> None:
    pairs = pd.DataFrame(
        {
            "auditor_id": ["A"] * 5 + ["B"] * 5 + ["C"] * 2,
            "names_strengths": [True] * 12,
            "names_learning": [False, False, False, True, True] + [True] * 5 + [False, False],
            "feedback_constructive": [True] * 12,
        }
    )
    flagged = feedback_flags(pairs, below=0.5, min_audits=5)
    assert flagged["auditor_id"].tolist() == ["A"]  # 2 of 5; B names both always; C has too few audits
    assert flagged["names_strengths_and_learning"].tolist() == [0.4]


def test_too_few_moderated_audits_give_no_kappa_and_say_so() -> None:
    # Seen: five Mental Capacity Act audits printed a kappa with an interval; below about ten the bootstrap
    # interval covers the truth far too seldom (58 % at five).
    auditor, moderator = np.array([0, 1, 2, 3, 2]), np.array([0, 1, 2, 2, 2])
    assert agreement(auditor, moderator, levels=4).kappa is not None
    few = agreement(auditor, moderator, levels=4, minimum=10)
    assert (few.kappa, few.kappa_low, few.kappa_high, few.exact) == (None, None, None, 0.8)
    said = kappa_said(few.audits, few.exact, few.kappa, few.kappa_low, few.kappa_high, minimum=10)
    assert said == "too few moderated audits to say (fewer than 10)"
    table = agreement_table(
        pd.DataFrame({"auditor_rank": auditor, "moderator_rank": moderator, "type": ["a"] * 5}), ["type"], 4, minimum=5
    )
    assert table["kappa"].notna().all()  # five is enough where the minimum is five


def test_a_sample_that_agrees_throughout_gives_its_count_and_a_lower_bound_not_a_point() -> None:
    # Seen: "1.00 (1.00 to 1.00)" whenever every moderated grade agreed. With 14 of 14, the one-sided 95 %
    # lower bound of the agreement is 0.05 ** (1 / 14) = 0.807.
    ranks = np.array([0, 1, 2, 3, 1, 2, 2, 3, 1, 0, 2, 3, 2, 1])
    figures = agreement(ranks, ranks, levels=4, minimum=10)
    assert (figures.kappa_low, figures.kappa_high) == (1.0, 1.0)  # what the bootstrap gives
    said = kappa_said(figures.audits, figures.exact, figures.kappa, figures.kappa_low, figures.kappa_high, 10)
    assert said == "all 14 agree exactly: at least 81% agreement (95% confidence)"
    mixed = agreement(ranks, np.roll(ranks, 1), levels=4, minimum=10)
    assert kappa_said(mixed.audits, mixed.exact, mixed.kappa, mixed.kappa_low, mixed.kappa_high, 10) == (
        f"{mixed.kappa:.2f} ({mixed.kappa_low:.2f} to {mixed.kappa_high:.2f})"
    )


def test_the_kappa_interval_covers_the_true_kappa_at_small_samples(capsys: pytest.CaptureFixture[str]) -> None:
    # Simulated moderated samples (bench/kappa_coverage.py runs the full table): at and above the reports'
    # minimum of 10 moderated audits the interval holds the true kappa in at least 90 % of samples for a true
    # kappa from 0.6 to 0.9. Samples that agree throughout show a bound on agreement instead of an interval.
    marginals = POPULATIONS["grades spread (the demo's)"]
    rows = {}
    for kappa in (0.6, 0.75, 0.9, 0.95):
        for n in (5, 10, 14, 44):
            rows[kappa, n] = coverage(kappa, n, marginals, reps=120)
    with capsys.disabled():
        print("\nkappa interval coverage (true kappa, n: share of intervals holding it, samples agreeing throughout)")
        for (kappa, n), found in rows.items():
            print(f"  {kappa:.2f}, {n:2d}: {found.share:.1%} of {found.with_interval} ({found.all_agree} all agree)")
    for (kappa, n), found in rows.items():
        if n >= 10 and kappa <= 0.9:
            assert found.share >= 0.90, (kappa, n, found)


def test_a_small_sample_with_one_disagreement_gets_a_wide_interval_not_a_point() -> None:
    # Ten audits, one a grade apart: so small a sample leaves kappa uncertain, and the interval says so.
    moderator = np.array([0, 1, 1, 2, 2, 2, 2, 3, 3, 2])
    auditor = moderator.copy()
    auditor[0] = 1
    figures = agreement(auditor, moderator, levels=4, seed=1)
    assert figures.kappa == pytest.approx(0.9206, abs=1e-4)
    assert figures.kappa_low is not None and figures.kappa_high is not None
    assert figures.kappa_low < 0.75 and figures.kappa_high <= 1.0
    assert figures.kappa_low < figures.kappa <= figures.kappa_high
