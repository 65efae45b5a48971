"""The canonical schema of every dataset qaloop reads: the columns, their kinds and the keys.

A source's column mapping (see ``settings.Source.columns``) turns a council's own column names
into these; everything after the source (checks, loading, selection) speaks only these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

ColumnKind = Literal["text", "date", "int", "number", "bool"]

# Commissioned providers and their intelligence, in the words of the CQC directory and a council's contract log.
SERVICE_TYPES = ("care_home", "nursing_home", "home_care", "supported_living")
COMMISSIONERS = ("council", "icb", "joint")
LEAD_ORGANISATIONS = ("council", "icb")
CQC_DOMAINS = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")
CQC_KEY_QUESTIONS = CQC_DOMAINS[1:]
# "Insufficient evidence to rate" is a word the CQC publishes; no threshold rule counts it.
CQC_RATING_WORDS = ("Outstanding", "Good", "Requires improvement", "Inadequate", "Insufficient evidence to rate")
CQC_ACTIONS = (
    "warning notice",
    "requirement notice",
    "conditions imposed",
    "notice of proposal to cancel",
    "notice of decision to cancel",
)
CONCERN_KINDS = ("safeguarding", "quality")
CONTRACT_NOTICE_KINDS = ("default", "further default", "advisory", "placement suspension")
PROVIDER_FEEDBACK_KINDS = ("complaint", "compliment")
# What the quality team and the provider do to monitor a service (Appendix 2, "Monitoring and measures").
MONITORING_ACTIVITIES = (
    "announced visit",
    "unannounced visit",
    "annual contact",
    "contract monitoring meeting",
    "self-assessment",
)


class Dataset(StrEnum):
    """A dataset qaloop reads from a configured source."""

    STAFF = "staff"
    CASES = "cases"
    AUDIT_HISTORY = "audit_history"
    COMPLAINTS = "complaints"
    OMBUDSMAN = "ombudsman"
    COMPLIMENTS = "compliments"
    SURVEYS = "surveys"
    AUDIT_RETURNS = "audit_returns"
    SELF_REFLECTIONS = "self_reflections"
    ACTION_RETURNS = "action_returns"
    MODERATION_RETURNS = "moderation_returns"
    REVIEW_RETURNS = "review_returns"
    PROVIDERS = "providers"
    CQC_RATINGS = "cqc_ratings"
    CQC_ENFORCEMENT = "cqc_enforcement"
    PROVIDER_CONCERNS = "provider_concerns"
    MONITORING_RETURNS = "monitoring_returns"
    CONTRACT_NOTICES = "contract_notices"
    IMPROVEMENT_ACTIONS = "improvement_actions"
    MONITORING_ACTIVITIES = "monitoring_activities"
    PROVIDER_FEEDBACK = "provider_feedback"
    INDICATORS = "indicators"


# The council's extracts, in the order `qaloop load` loads them (returns arrive through the drop folder).
EXTRACTS = (
    Dataset.STAFF,
    Dataset.CASES,
    Dataset.AUDIT_HISTORY,
    Dataset.COMPLAINTS,
    Dataset.OMBUDSMAN,
    Dataset.COMPLIMENTS,
    Dataset.SURVEYS,
)

# A commissioned market's intelligence, in the order it is checked and stored: the providers first, since every
# other dataset names a provider by its CQC location id.
PROVIDER_INTELLIGENCE = (
    Dataset.PROVIDERS,
    Dataset.CQC_RATINGS,
    Dataset.CQC_ENFORCEMENT,
    Dataset.PROVIDER_CONCERNS,
    Dataset.MONITORING_RETURNS,
    Dataset.CONTRACT_NOTICES,
    Dataset.IMPROVEMENT_ACTIONS,
    Dataset.MONITORING_ACTIVITIES,
    Dataset.PROVIDER_FEEDBACK,
)

# What the leadership's governance reads beside the audits: the council's monthly KPI return.
GOVERNANCE = (Dataset.INDICATORS,)
# An indicator's polarity, as a KPI return says it: which way is better.
POLARITIES = ("higher is better", "lower is better")
# The events raised to the senior leadership team at once, between the quarterly reports (Warwickshire part 4).
EXCEPTIONS = (
    "audit_escalation",  # an audit return escalated a concern
    "bottom_grade",  # an audit graded at the bottom of the scale
    "triangulation_flag",  # a team or area where several sources point to concern
    "action_overdue",  # a corrective action open past its due date by action_overdue_working_days
    "indicator_concern",  # an indicator's figure for the month is special-cause concern
    "provider_level_3",  # a commissioned provider decided at level 3 from a lower level
)
ESCALATION_STATUSES = ("raised", "acknowledged", "closed")


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind, whether a source must provide it, and what it holds."""

    name: str
    kind: ColumnKind
    required: bool
    description: str


@dataclass(frozen=True)
class DatasetSchema:
    """The canonical columns of one dataset and the columns that identify a row."""

    dataset: Dataset
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Every canonical column name, in schema order."""
        return [column.name for column in self.columns]

    @property
    def required(self) -> list[str]:
        """The columns a source must provide."""
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        """The column called ``name``; KeyError if the dataset has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _c(name: str, kind: ColumnKind, description: str, required: bool = True) -> Column:
    return Column(name=name, kind=kind, required=required, description=description)


SCHEMAS: dict[Dataset, DatasetSchema] = {
    Dataset.STAFF: DatasetSchema(
        Dataset.STAFF,
        key=("staff_id",),
        columns=(
            _c("staff_id", "text", "the HR or case-system identifier of the member of staff"),
            _c("name", "text", "full name, used only to greet people in emails addressed to them"),
            _c("email", "text", "work email address"),
            _c(
                "role",
                "text",
                "practitioner, senior_practitioner, team_manager, service_manager, practice_lead, "
                "qa_officer or director (map job titles to them with `values`)",
            ),
            _c("area", "text", "area code or name (blank for authority-wide roles)", required=False),
            _c("team", "text", "team name (optional above team manager)", required=False),
            _c("line_manager_id", "text", "staff_id of the line manager", required=False),
            _c("active", "bool", "false for leavers and suspended staff (default true)", required=False),
            _c("leave_start", "date", "first day of a current or planned leave", required=False),
            _c("leave_end", "date", "last day of that leave", required=False),
        ),
    ),
    Dataset.CASES: DatasetSchema(
        Dataset.CASES,
        key=("case_ref",),
        columns=(
            _c("case_ref", "text", "the case reference in the case management system"),
            _c("person_ref", "text", "the reference of the person the case is about (never a name)"),
            _c("audit_type", "text", "the audit type id from the configuration"),
            _c("area", "text", "area code or name"),
            _c("team", "text", "team name"),
            _c("worker_id", "text", "staff_id of the allocated worker"),
            _c("start_date", "date", "when this piece of work started"),
            _c("last_activity_date", "date", "the latest recorded activity"),
            _c("end_date", "date", "when the work ended (blank while open)", required=False),
        ),
    ),
    Dataset.AUDIT_HISTORY: DatasetSchema(
        Dataset.AUDIT_HISTORY,
        key=("case_ref",),
        columns=(
            _c(
                "cycle_ref",
                "text",
                "the audit cycle the case was audited in (blank or absent: the cycle is named by its selection date)",
                required=False,
            ),
            _c("selection_date", "date", "the cycle's selection date (given on one of the cycle's rows is enough)"),
            _c("case_ref", "text", "the audited case (it may have closed since and be in no extract)"),
            _c("worker_id", "text", "staff_id of the practitioner whose work was audited"),
            _c("auditor_id", "text", "staff_id of the auditor (blank or absent: not recorded)", required=False),
            _c(
                "grade",
                "text",
                "the overall grade, a label on the configured scale (blank or absent: not recorded)",
                required=False,
            ),
            _c("submitted_on", "date", "when the audit was returned", required=False),
        ),
    ),
    Dataset.COMPLAINTS: DatasetSchema(
        Dataset.COMPLAINTS,
        key=("complaint_ref",),
        columns=(
            _c("complaint_ref", "text", "the complaint's reference"),
            _c("received_on", "date", "date received"),
            _c("area", "text", "area code or name"),
            _c("team", "text", "team name, where known", required=False),
            _c("theme", "text", "the complaint's theme"),
            _c("outcome", "text", "upheld, partly upheld, not upheld or open"),
            _c("response_days", "int", "working days to the response", required=False),
        ),
    ),
    Dataset.OMBUDSMAN: DatasetSchema(
        Dataset.OMBUDSMAN,
        key=("decision_ref",),
        columns=(
            _c("decision_ref", "text", "the Ombudsman's (LGO) case reference"),
            _c("decided_on", "date", "date of the decision"),
            _c("area", "text", "area code or name"),
            _c("team", "text", "team name, where known", required=False),
            _c("theme", "text", "the complaint's theme"),
            _c("outcome", "text", "the decision: upheld, not upheld, or closed after initial enquiries"),
        ),
    ),
    Dataset.COMPLIMENTS: DatasetSchema(
        Dataset.COMPLIMENTS,
        key=("compliment_ref",),
        columns=(
            _c("compliment_ref", "text", "the compliment's reference"),
            _c("received_on", "date", "date received"),
            _c("area", "text", "area code or name"),
            _c("team", "text", "team name, where known", required=False),
            _c("theme", "text", "what the compliment was about"),
        ),
    ),
    Dataset.SURVEYS: DatasetSchema(
        Dataset.SURVEYS,
        key=("response_ref", "question"),
        columns=(
            _c("response_ref", "text", "the survey response's reference"),
            _c("survey", "text", "which survey"),
            _c("responded_on", "date", "date of the response"),
            _c("area", "text", "area code or name"),
            _c("team", "text", "team name, where known", required=False),
            _c("question", "text", "the question's short id"),
            _c("score", "int", "the answer on the survey's scale (1 worst to 5 best)"),
            _c("comment", "text", "free-text comment", required=False),
        ),
    ),
    Dataset.AUDIT_RETURNS: DatasetSchema(
        Dataset.AUDIT_RETURNS,
        key=("case_ref",),
        columns=(
            _c("cycle_ref", "text", "the audit cycle, e.g. 2026-09"),
            _c("case_ref", "text", "the audited case"),
            _c("auditor_id", "text", "staff_id of the auditor who completed the audit"),
            _c("completed_on", "date", "the date the audit was completed"),
            _c("grade", "text", "the overall grade, a label on the configured scale"),
            _c("escalation", "bool", "yes when a concern was escalated (blank: no)", required=False),
            _c("escalation_details", "text", "the concern and who the auditor told", required=False),
            _c("strengths", "text", "strengths of the practice", required=False),
            _c("learning_points", "text", "learning points", required=False),
            _c("to_reach_higher_grade", "text", "what would have earned a higher grade", required=False),
        ),
    ),
    Dataset.SELF_REFLECTIONS: DatasetSchema(
        Dataset.SELF_REFLECTIONS,
        key=("case_ref",),
        columns=(
            _c("cycle_ref", "text", "the audit cycle, e.g. 2026-09"),
            _c("case_ref", "text", "the audited case"),
            _c("practitioner_id", "text", "staff_id of the practitioner reflecting"),
            _c("completed_on", "date", "the date the reflection was written"),
            _c("reflection", "text", "the practitioner's reflection"),
        ),
    ),
    Dataset.ACTION_RETURNS: DatasetSchema(
        Dataset.ACTION_RETURNS,
        key=("action_id",),
        columns=(
            _c("action_id", "text", "the corrective action's number, as in the email that opened it"),
            _c("completed_on", "date", "the date the action was completed"),
            _c("evidence", "text", "what was done: the evidence of completion"),
        ),
    ),
    Dataset.MODERATION_RETURNS: DatasetSchema(
        Dataset.MODERATION_RETURNS,
        key=("case_ref",),
        columns=(
            _c("cycle_ref", "text", "the audit cycle, e.g. 2026-09"),
            _c("case_ref", "text", "the audited case"),
            _c("moderator_id", "text", "staff_id of the practice lead who moderated the audit"),
            _c("completed_on", "date", "the date the moderation was completed"),
            _c("moderated_grade", "text", "the grade the moderator would give, on the configured scale"),
            _c("criteria_consistent", "bool", "were the grading criteria applied consistently (yes / no)"),
            _c("feedback_constructive", "bool", "is the feedback supportive and constructive (yes / no)"),
            _c("names_strengths", "bool", "does the feedback name strengths (yes / no)"),
            _c("names_learning", "bool", "does the feedback name learning (yes / no)"),
            _c("notes", "text", "the moderator's notes", required=False),
        ),
    ),
    Dataset.REVIEW_RETURNS: DatasetSchema(
        Dataset.REVIEW_RETURNS,
        key=("review_ref",),
        columns=(
            _c("review_ref", "text", "the service performance review, e.g. SPR-3, as the workbook's cover gives it"),
            _c("head_of_service_id", "text", "staff_id of the head of service the workbook was sent to"),
            _c("completed_on", "date", "the date the workbook was completed"),
            _c("panel_record", "bool", "yes when the panel's sheet is filled in: the workbook records the panel"),
            _c("summary_points", "text", "the key summary points for the service's staff", required=False),
            _c("panel_input", "text", "the panel's input, challenge and comments", required=False),
        ),
    ),
    Dataset.PROVIDERS: DatasetSchema(
        Dataset.PROVIDERS,
        key=("location_id",),
        columns=(
            _c("location_id", "text", "the service's CQC location id, e.g. 1-101234567"),
            _c("provider_id", "text", "the CQC provider id of the organisation running it", required=False),
            _c("name", "text", "the service's registered name"),
            _c(
                "service_type",
                "text",
                "care_home, nursing_home, home_care or supported_living (map the contract log's words with `values`)",
            ),
            _c(
                "size",
                "int",
                "beds (care and nursing homes), or hours a week commissioned (home care, supported living)",
            ),
            _c("area", "text", "area code or name"),
            _c("commissioned_by", "text", "council, icb or joint"),
            _c("lead_organisation", "text", "council or icb: who leads a jointly commissioned service", required=False),
            _c("contract_ref", "text", "the contract's reference", required=False),
            _c(
                "contact_email",
                "text",
                "the service's address for its monitoring returns, self-assessment and improvement actions (blank: "
                "the quality team is told instead)",
                required=False,
            ),
        ),
    ),
    Dataset.CQC_RATINGS: DatasetSchema(
        Dataset.CQC_RATINGS,
        key=("location_id", "domain"),
        columns=(
            _c("location_id", "text", "the CQC location id (the directory's 'Location ID')"),
            _c("domain", "text", "Overall, Safe, Effective, Caring, Responsive or Well-led (the directory's 'Domain')"),
            _c("rating", "text", "Outstanding, Good, Requires improvement or Inadequate (the 'Latest Rating')"),
            _c("published_on", "date", "when CQC published the rating (the 'Publication Date')"),
            _c(
                "service_group",
                "text",
                "the directory's 'Service / Population Group': only its Overall rows are read",
                required=False,
            ),
        ),
    ),
    Dataset.CQC_ENFORCEMENT: DatasetSchema(
        Dataset.CQC_ENFORCEMENT,
        key=("action_ref",),
        columns=(
            _c("action_ref", "text", "the enforcement action's reference"),
            _c("location_id", "text", "the CQC location id"),
            _c(
                "action",
                "text",
                "warning notice, requirement notice, conditions imposed, notice of proposal to cancel or notice of "
                "decision to cancel",
            ),
            _c("served_on", "date", "when CQC served it"),
        ),
    ),
    Dataset.PROVIDER_CONCERNS: DatasetSchema(
        Dataset.PROVIDER_CONCERNS,
        key=("concern_ref",),
        columns=(
            _c("concern_ref", "text", "the concern's reference (a safeguarding concern's, or the quality log's)"),
            _c("location_id", "text", "the CQC location id of the service the concern is about"),
            _c("concern", "text", "safeguarding or quality"),
            _c("raised_on", "date", "when it was raised"),
            _c("serious", "bool", "yes when it was flagged serious (it brings the panel forward)", required=False),
        ),
    ),
    Dataset.MONITORING_RETURNS: DatasetSchema(
        Dataset.MONITORING_RETURNS,
        key=("location_id", "month"),
        columns=(
            _c("location_id", "text", "the CQC location id"),
            _c("month", "text", "the month the return is for, as YYYY-MM"),
            _c("received_on", "date", "when it was received (blank: not received)", required=False),
        ),
    ),
    Dataset.CONTRACT_NOTICES: DatasetSchema(
        Dataset.CONTRACT_NOTICES,
        key=("notice_ref",),
        columns=(
            _c("notice_ref", "text", "the notice's reference"),
            _c("location_id", "text", "the CQC location id"),
            _c("notice", "text", "default, further default, advisory or placement suspension"),
            _c("served_on", "date", "when it was served or started"),
            _c("ends_on", "date", "when it was lifted (blank: still in place)", required=False),
        ),
    ),
    Dataset.IMPROVEMENT_ACTIONS: DatasetSchema(
        Dataset.IMPROVEMENT_ACTIONS,
        key=("action_ref",),
        columns=(
            _c("action_ref", "text", "the service improvement plan action's reference"),
            _c("location_id", "text", "the CQC location id"),
            _c("due_on", "date", "when the action is due"),
            _c("completed_on", "date", "when it was completed (blank: not yet)", required=False),
        ),
    ),
    Dataset.MONITORING_ACTIVITIES: DatasetSchema(
        Dataset.MONITORING_ACTIVITIES,
        key=("activity_ref",),
        columns=(
            _c("activity_ref", "text", "the visit's, meeting's or self-assessment's reference"),
            _c("location_id", "text", "the CQC location id"),
            _c("activity", "text", ", ".join(MONITORING_ACTIVITIES[:-1]) + " or " + MONITORING_ACTIVITIES[-1]),
            _c("done_on", "date", "when it took place (a self-assessment: when it was received)"),
        ),
    ),
    Dataset.PROVIDER_FEEDBACK: DatasetSchema(
        Dataset.PROVIDER_FEEDBACK,
        key=("feedback_ref",),
        columns=(
            _c("feedback_ref", "text", "the complaint's or compliment's reference"),
            _c("location_id", "text", "the CQC location id of the service it is about"),
            _c("feedback", "text", "complaint or compliment"),
            _c("received_on", "date", "when it was received"),
            _c("upheld", "bool", "a complaint: yes when it was upheld, in whole or part", required=False),
        ),
    ),
    Dataset.INDICATORS: DatasetSchema(
        Dataset.INDICATORS,
        key=("indicator", "period", "service_area"),
        columns=(
            _c("indicator", "text", "the indicator's id, as governance.indicators names it"),
            _c("period", "text", "the month the figure is for: 2026-04, Apr-26, April 2026 or a date in it"),
            _c(
                "service_area",
                "text",
                "the service area, as governance.service_areas names it (blank: the whole service)",
                required=False,
            ),
            _c("value", "number", "the figure; a rate on its scale (a percentage as 45.2 or 45.2%)"),
            _c("numerator", "number", "a rate's numerator", required=False),
            _c("denominator", "number", "a rate's denominator", required=False),
            _c("target", "number", "the month's target (blank: the configured one, if any)", required=False),
            _c("polarity", "text", "higher is better or lower is better (blank: as configured)", required=False),
            _c("neighbours", "number", "the statistical neighbours' average, where known", required=False),
            _c("england", "number", "England's figure, where known", required=False),
        ),
    ),
}


def columns_table(datasets: tuple[Dataset, ...] = EXTRACTS) -> str:
    """The canonical columns of ``datasets`` as the README's Markdown tables (``qaloop columns`` prints them)."""
    parts = []
    for dataset in datasets:
        schema = SCHEMAS[dataset]
        lines = [
            f"**{dataset.value}** (one row per {' and '.join(schema.key)})",
            "",
            "| column | kind | | what it holds |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{c.name}` | {c.kind} | {'required' if c.required else 'optional'} | {c.description} |"
            for c in schema.columns
        ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
