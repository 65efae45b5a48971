"""The suites for returned work: audits, self-reflections, moderations, corrective actions and service reviews.

Each row must belong to an open allocation (or action) and come from the person it was sent to (or a
recorded substitute); grades must be on the authority's scale; every required question answered with one
of its options; dates not in the future and not before the cycle's allocation; each agreed action says
what, names a member of staff by staff id, and gives a date on or after the audit. A service review's workbook
must be one qaloop sent, at a stage not yet filed, from its head of service, every judgement area judged I, RI, G
or O, and each action with an owner (a staff id) and a date on or after the workbook was completed.
"""

from __future__ import annotations

import great_expectations as gx
import pandas as pd

from checks.outcomes import CheckReport
from checks.runner import Rule, not_before, rule, run_checks, schema_rules
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.returns.filing import Rejection
from qaloop.returns.reading import ReturnFile, parse_day
from qaloop.store.models import REVIEW_JUDGEMENTS

_WHAT = {
    Dataset.MODERATION_RETURNS: "moderation return",
    Dataset.AUDIT_RETURNS: "audit return",
    Dataset.SELF_REFLECTIONS: "self-reflection",
    Dataset.ACTION_RETURNS: "corrective action return",
    Dataset.REVIEW_RETURNS: "service review workbook",
}


def _not_in_future() -> Rule:
    return rule(
        "completed_on is in the future",
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
        column_A="today",
        column_B="completed_on",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        shows="completed_on__text",
    )


def _must_be_true(column: str, says: str, shows: str) -> Rule:
    return rule(says, gx.expectations.ExpectColumnValuesToBeInSet, column=column, value_set=[True], shows=shows)


def return_rules(settings: Settings, dataset: Dataset) -> list[Rule]:
    """Every rule one row of a returned file must meet."""
    rules = schema_rules(dataset, _WHAT[dataset], unique_on="row_key") + [_not_in_future()]
    if dataset is Dataset.ACTION_RETURNS:
        return rules + [_must_be_true("action_open", "action_id is not an open corrective action", "action_id")]
    if dataset is Dataset.REVIEW_RETURNS:
        return rules + [
            _must_be_true("review_known", "review_ref is not a service review qaloop sent", "review_ref"),
            _must_be_true(
                "review_open",
                "this stage of the review is already filed (a changed copy is not filed; after the panel, fill in "
                "its sheet 6 to record the panel)",
                "review_ref",
            ),
            _must_be_true(
                "head_matches", "head_of_service_id is not the head of service the review went to", "head_of_service_id"
            ),
            not_before("completed_on", "allocated_on"),
        ]
    if dataset is Dataset.MODERATION_RETURNS:
        return rules + [
            _must_be_true("moderation_open", "there is no open moderation of this case in this cycle", "cycle_ref"),
            _must_be_true("moderator_matches", "moderator_id is not the moderator of this audit", "moderator_id"),
            not_before("completed_on", "allocated_on"),
            rule(
                f"moderated_grade is not on the scale ({', '.join(settings.grade_scale.labels)})",
                gx.expectations.ExpectColumnValuesToBeInSet,
                column="moderated_grade",
                value_set=settings.grade_scale.labels,
            ),
        ]
    rules += [
        _must_be_true("allocation_open", "there is no open allocation of this case in this cycle", "cycle_ref"),
        not_before("completed_on", "allocated_on"),
    ]
    if dataset is Dataset.SELF_REFLECTIONS:
        return rules + [
            _must_be_true(
                "practitioner_matches", "practitioner_id is not the practitioner of this case", "practitioner_id"
            )
        ]
    return rules + [
        _must_be_true(
            "auditor_permitted", "auditor_id is neither the allocated auditor nor a recorded substitute", "auditor_id"
        ),
        rule(
            f"grade is not on the scale ({', '.join(settings.grade_scale.labels)})",
            gx.expectations.ExpectColumnValuesToBeInSet,
            column="grade",
            value_set=settings.grade_scale.labels,
        ),
    ]


def answer_frame(settings: Settings, returned: ReturnFile, annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per question of each return's audit tool, keyed by the return's ``row_key``, with the answer
    given (if any) and whether it is required and allowed."""
    rows = []
    given = returned.answers.drop_duplicates(["row_key", "question_id"]).set_index(["row_key", "question_id"])
    for row_key, audit_type in annotated[["row_key", "audit_type"]].dropna().itertuples(index=False):
        tool = settings.tool_for(audit_type)
        for question in tool.questions:
            answer = given["answer"].get((row_key, question.id))
            answer = None if answer is None or pd.isna(answer) else str(answer)
            allowed = question.answers or tool.answers
            rows.append(
                {
                    "row_key": row_key,
                    "question_id": question.id,
                    "answered": answer is not None or not question.required,
                    "allowed": answer is None or answer in allowed,
                    "shown": f"{question.id}: {answer}",
                }
            )
    return pd.DataFrame(rows, columns=["row_key", "question_id", "answered", "allowed", "shown"])


def judgement_frame(returned: ReturnFile, annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per judgement area of each review return, keyed by the return's ``row_key``: whether it is judged,
    and on Coventry's scale (I, RI, G, O)."""
    judgements = returned.answers[returned.answers["row_key"].isin(annotated["row_key"])]
    given = judgements["judgement"]
    return pd.DataFrame(
        {
            "row_key": judgements["row_key"],
            "judged": given.notna(),
            "on_scale": given.isna() | given.isin(REVIEW_JUDGEMENTS),
            "shown": judgements["area"].astype(str) + ": " + given.fillna("(blank)").astype(str),
        }
    )


def measure_frame(settings: Settings, returned: ReturnFile, annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per action of each review return that names a measure, keyed by the return's ``row_key``: whether
    it is a configured key indicator."""
    actions = returned.actions[returned.actions["row_key"].isin(annotated["row_key"])]
    named = actions[actions["measure"].notna()]
    indicators = list(settings.governance.indicators) if settings.governance else []
    return pd.DataFrame(
        {"row_key": named["row_key"], "measure_known": named["measure"].isin(indicators), "shown": named["measure"]}
    )


def action_frame(returned: ReturnFile, annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per agreed action of each return, keyed by the return's ``row_key``: whether it says what is to
    be done, names a member of staff by staff id, and gives a date on or after the audit."""
    rows = []
    known = annotated.set_index("row_key")
    for action in returned.actions.itertuples():
        if action.row_key not in known.index:
            continue
        audit = known.loc[action.row_key]
        day = parse_day(action.by_when)
        owner = None if pd.isna(action.by_whom) else str(action.by_whom).strip()
        rows.append(
            {
                "row_key": action.row_key,
                "described": not pd.isna(action.action) and bool(str(action.action).strip()),
                "owner_known": owner in audit["staff_known"],
                "date_ok": day is not None and (pd.isna(audit["completed_on"]) or day >= audit["completed_on"].date()),
                "owner": owner or "(blank)",
                "by_when": "(blank)" if pd.isna(action.by_when) else str(action.by_when),
            }
        )
    return pd.DataFrame(rows, columns=["row_key", "described", "owner_known", "date_ok", "owner", "by_when"])


def _action_rules() -> list[Rule]:
    return [
        _must_be_true("described", "an agreed action does not say what is to be done", "owner"),
        _must_be_true("owner_known", "an agreed action's 'by whom' is not a staff id", "owner"),
        _must_be_true("date_ok", "an agreed action's 'by when' is not a date on or after the return", "by_when"),
    ]


def check_return_file(returned: ReturnFile, annotated: pd.DataFrame, settings: Settings) -> Rejection | None:
    """Check returned rows (and audits' answers), keyed by ``row_key``; None when all pass, else which rows
    and why."""
    dataset = returned.dataset
    key = "row_key"
    frame = annotated
    if dataset is Dataset.AUDIT_RETURNS:
        # Where there is no allocation to speak of, only that is reported, not also the auditor.
        frame = annotated.assign(auditor_permitted=annotated["auditor_permitted"] | ~annotated["allocation_open"])
    if dataset is Dataset.MODERATION_RETURNS:
        frame = annotated.assign(moderator_matches=annotated["moderator_matches"] | ~annotated["moderation_open"])
    if dataset is Dataset.REVIEW_RETURNS:
        known = annotated["review_known"]
        frame = annotated.assign(review_open=annotated["review_open"] | ~known, head_matches=annotated["head_matches"]
                                 | ~known)  # fmt: skip
    reports = [run_checks(dataset.value, frame, return_rules(settings, dataset), key=key)]
    if dataset is Dataset.REVIEW_RETURNS:
        open_rows = annotated[annotated["review_open"]]
        parts = (
            ("judgements", judgement_frame(returned, open_rows), [
                _must_be_true("judged", "a judgement area is not judged (I, RI, G or O)", "shown"),
                _must_be_true("on_scale", "a judgement is not one of I, RI, G, O", "shown"),
            ]),
            ("actions", action_frame(returned, open_rows), _action_rules()),
            ("measures", measure_frame(settings, returned, open_rows), [
                _must_be_true("measure_known", "an action's measure is not one of the configured indicators",
                              "shown"),
            ]),
        )  # fmt: skip
        reports += [run_checks(name, part, rules, key="row_key") for name, part, rules in parts if len(part)]
    if dataset is Dataset.AUDIT_RETURNS:
        open_rows = annotated[annotated["allocation_open"]]
        parts = (
            ("answers", answer_frame(settings, returned, open_rows), [
                _must_be_true("answered", "a required question is not answered", "question_id"),
                _must_be_true("allowed", "an answer is not one of the question's options", "shown"),
            ]),
            ("agreed actions", action_frame(returned, open_rows), _action_rules()),
        )  # fmt: skip
        reports += [run_checks(name, part, rules, key="row_key") for name, part, rules in parts if len(part)]
    # A review is one row holding many judgement areas and actions: its reasons name the ones at fault.
    return rejection(returns_report(dataset, reports), with_values=dataset is Dataset.REVIEW_RETURNS)


def returns_report(dataset: Dataset, reports: list[CheckReport]) -> CheckReport:
    """The reports of one file as one."""
    return CheckReport(dataset.value, reports[0].rows, tuple(f for report in reports for f in report.failures))


def rejection(report: CheckReport, with_values: bool = False) -> Rejection | None:
    """The rows a report rejects (``with_values``: each reason with the row's values at fault), or None if it
    passed."""
    if report.ok:
        return None
    return Rejection(
        reasons=report.reasons(with_values),
        summary=report.describe(),
        whole_file=any(failure.whole_dataset for failure in report.failures),
    )
