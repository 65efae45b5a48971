"""Audit-tool questions read alike on yes / no tools and on judgement scales (Coventry's "meets good")."""

from __future__ import annotations

import pandas as pd
import pytest

from qaloop.core.settings import load_settings
from qaloop.reporting.figures import question_table
from qaloop.reporting.spc import ChartRules
from tests.conftest import DEMO_CONFIG, PROJECT


def _history(audit_type: str) -> pd.DataFrame:
    return pd.DataFrame({"return_id": [1, 2, 3, 4, 5], "cycle_ref": ["C1"] * 4 + ["C0"], "audit_type": audit_type})


def test_a_judgement_scale_counts_meets_good_and_above_as_meeting_the_question() -> None:
    settings = load_settings(PROJECT / "configs" / "coventry.yaml")
    answers = pd.DataFrame(
        {
            "return_id": [1, 2, 3, 4, 5],
            "question_id": "J1",
            "answer": ["exceeds good", "meets good", "does not meet good", "not applicable", "meets good"],
        }
    )
    row = question_table(_history("assessment"), answers, settings, "C1", ["C0", "C1"], ChartRules()).iloc[0]
    assert (row["yes"], row["no"], row["not_applicable"], row["answered"]) == (2, 1, 1, 3)
    assert row["short"] == "does not meet good"
    assert row["yes_share"] == pytest.approx(2 / 3)


def test_a_yes_no_tool_counts_yes() -> None:
    settings = load_settings(DEMO_CONFIG)
    answers = pd.DataFrame(
        {"return_id": [1, 2, 3, 4, 5], "question_id": "V1", "answer": ["Yes", "No", "No", "Not applicable", "Yes"]}
    )
    row = question_table(_history("care_act_assessment"), answers, settings, "C1", ["C0", "C1"], ChartRules()).iloc[0]
    assert (row["yes"], row["no"], row["not_applicable"], row["short"]) == (1, 2, 1, "No")
