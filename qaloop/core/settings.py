"""The one validated configuration of a QA programme: read from a YAML file, overridden by QALOOP_ variables.

``load_settings`` is the only way in. It reads the YAML file named by ``--config`` / ``QALOOP_CONFIG``
(default ``qaloop.yaml``), applies environment overrides (``QALOOP_DATABASE_URL``,
``QALOOP_EMAIL__PASSWORD``: nested fields joined by a double underscore), and raises ``ConfigError`` naming
the field, the value and what is allowed when anything is wrong. Relative paths are taken from the folder
of the configuration file, so a config can be run from anywhere.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from qaloop.core.roles import Role
from qaloop.core.schema import (
    CONCERN_KINDS,
    CONTRACT_NOTICE_KINDS,
    CQC_ACTIONS,
    CQC_KEY_QUESTIONS,
    CQC_RATING_WORDS,
    EXCEPTIONS,
    MONITORING_ACTIVITIES,
    POLARITIES,
    PROVIDER_INTELLIGENCE,
    SCHEMAS,
    Dataset,
)

DEFAULT_CONFIG = Path("qaloop.yaml")


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad field, its value and what is allowed."""


class _Strict(BaseModel):
    # A misspelt key must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(StrEnum):
    ADULTS = "adults"
    CHILDREN = "children"


class Area(_Strict):
    code: str = Field(description="short code used in extracts and references, e.g. NE")
    name: str = Field(description="the area's name, e.g. North East")


class Authority(_Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="short lowercase id, used to name runs")
    name: str
    service: Service
    areas: list[Area] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_areas(self) -> Authority:
        for attribute in ("code", "name"):
            values = [getattr(area, attribute).casefold() for area in self.areas]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"area {attribute}s must be unique; repeated: {duplicates}")
        return self


class GradeScale(_Strict):
    """Grades ordered worst to best; grades below ``standard`` are below standard."""

    labels: list[str] = Field(min_length=2, description="grade labels, worst first")
    standard: str = Field(description="the lowest grade that meets the standard")
    good: str | None = Field(
        default=None, description="the lowest grade reports count as good or better (default: the standard)"
    )

    @model_validator(mode="after")
    def _standard_on_scale(self) -> GradeScale:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"grade labels must be unique, got {self.labels}")
        if self.standard not in self.labels:
            raise ValueError(f"standard {self.standard!r} is not one of the grade labels {self.labels}")
        if self.good is not None and self.good not in self.labels:
            raise ValueError(f"good {self.good!r} is not one of the grade labels {self.labels}")
        if self.labels.index(self.standard) == 0:
            raise ValueError(f"standard {self.standard!r} is the worst grade, so no grade could fall below it")
        return self

    def rank(self, label: str) -> int:
        """Position of ``label`` on the scale, 0 for the worst; ValueError if it is not on the scale."""
        return self.labels.index(label)

    def below_standard(self, label: str) -> bool:
        """Whether ``label`` falls below the standard line."""
        return self.rank(label) < self.rank(self.standard)

    @property
    def good_rank(self) -> int:
        """The rank from which a grade counts as good or better."""
        return self.rank(self.good or self.standard)


class Aspect(_Strict):
    id: str
    title: str


class Question(_Strict):
    id: str
    aspect: str = Field(description="id of the aspect the question belongs to")
    text: str
    required: bool = True
    answers: list[str] | None = Field(default=None, description="overrides the tool's answer options")


class AuditTool(_Strict):
    """The audit tool: questions grouped by quality aspect, with the answer options offered."""

    aspects: list[Aspect] = Field(min_length=1)
    answers: list[str] = Field(default=["Yes", "No", "Not applicable"], min_length=2)
    agreed_actions: int = Field(
        default=0, ge=0, le=20, description="rows for agreed actions (by whom, by when) that become corrective actions"
    )
    questions: list[Question] = Field(min_length=1)

    @model_validator(mode="after")
    def _questions_reference_aspects(self) -> AuditTool:
        aspect_ids = [aspect.id for aspect in self.aspects]
        if len(set(aspect_ids)) != len(aspect_ids):
            raise ValueError(f"aspect ids must be unique, got {aspect_ids}")
        question_ids = [question.id for question in self.questions]
        if len(set(question_ids)) != len(question_ids):
            raise ValueError(f"question ids must be unique, got {question_ids}")
        for question in self.questions:
            if question.aspect not in aspect_ids:
                raise ValueError(f"question {question.id!r} names aspect {question.aspect!r}; aspects are {aspect_ids}")
        return self

    def short_answer(self, question: Question) -> str:
        """The answer short of the standard: the last option that is not "not applicable" ("No", "does not meet
        good"); every other answer meets it, so judgement scales read as yes / no tools do."""
        return [option for option in (question.answers or self.answers) if not not_applicable(option)][-1]


def not_applicable(answer: str) -> bool:
    """Whether an answer says the question does not apply ("Not applicable", "N/A")."""
    return re.sub(r"[^a-z]", "", str(answer).casefold()) in ("notapplicable", "na")


class AuditType(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", description="the id used in the case extract")
    label: str
    tool: str = Field(description="name of an entry in audit_tools")


class CycleCalendar(_Strict):
    """When cycles fall and how long each stage lasts (offsets are working days after selection)."""

    anchor: date = Field(description="selection date of the first cycle; later cycles follow every cadence")
    first_cycle: date | None = Field(
        default=None,
        description="the programme's first cycle in qaloop is the first selected on or after this date: no audit "
        "history is expected before it (defaults to the anchor)",
    )
    cadence_weeks: int = Field(default=6, ge=1, le=52)
    run_at: time = Field(default=time(7, 0), description="local time the cycle flow starts")
    timezone: str = "Europe/London"
    audits_per_area: int = Field(default=120, ge=1)
    type_shares: dict[str, float] | None = Field(
        default=None, description="share of each area's audits per audit type; omit for proportional to caseload"
    )
    allocation_days: int = Field(default=2, ge=0)
    self_reflection_due_days: int = Field(default=10, ge=1)
    audit_due_days: int = Field(default=15, ge=1)
    moderation_days: int = Field(default=10, ge=1, description="length of the moderation window after audits are due")
    close_days: int = Field(default=5, ge=0, description="working days after moderation until the cycle closes")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'") from None
        return value

    @field_validator("type_shares")
    @classmethod
    def _shares_sum_to_one(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            if any(share < 0 for share in value.values()):
                raise ValueError("shares cannot be negative")
            if abs(sum(value.values()) - 1) > 1e-6:
                raise ValueError(f"shares must add up to 1, they add up to {sum(value.values()):g}")
        return value


RelaxableRule = Literal["worker_repeat", "cases_per_worker", "look_back"]


class SelectionRules(_Strict):
    look_back_months: int = Field(default=6, ge=1, description="only cases with activity this recently")
    worker_repeat_cycles: int = Field(
        default=2, ge=1, description="a worker audited in each of the last N cycles is not selected"
    )
    cases_per_worker: int = Field(default=1, ge=1, description="most cases of one worker in one cycle")
    reserve_share: float = Field(default=0.25, ge=0, le=1, description="reserves drawn per stratum, as a share")
    relaxation_order: list[RelaxableRule] = Field(
        default=["worker_repeat", "cases_per_worker", "look_back"],
        description="rules relaxed, in this order, when a stratum runs short",
    )
    auditor_capacity: int = Field(default=4, ge=1, description="most audits one auditor gets in a cycle")
    cases_per_manager: int = Field(
        default=2, ge=1, description="managers' monthly audits: cases each manager audits a month"
    )
    manager_roles: list[Role] = Field(
        default_factory=lambda: [Role.TEAM_MANAGER, Role.SERVICE_MANAGER],
        description="managers' monthly audits: the roles that audit each month",
    )

    @field_validator("relaxation_order")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"each rule may appear once, got {value}")
        return value


class Moderation(_Strict):
    share: float = Field(default=0.2, gt=0, le=1, description="share of submitted audits moderated")
    oversample_weight: float = Field(
        default=2.0, ge=1, description="how many times more likely a below-standard or top-graded audit is drawn"
    )
    moderated_grade_replaces: bool = Field(
        default=False, description="whether the moderated grade replaces the auditor's in reports (both are kept)"
    )
    flag_threshold: float = Field(
        default=0.5, gt=0, description="mean grades by which an auditor differs from moderation to be flagged"
    )
    flag_min_audits: int = Field(default=5, ge=1, description="moderated audits needed before an auditor is flagged")
    kappa_min_audits: int = Field(
        default=10,
        ge=2,
        description="moderated audits a kappa is given for; fewer: 'too few moderated audits to say' (its interval "
        "covers too seldom below about ten)",
    )
    flag_feedback_below: float = Field(
        default=0.5, ge=0, le=1, description="flag an auditor whose feedback names strengths and learning less often"
    )


class Triangulation(_Strict):
    """How audit findings are set beside complaints, compliments, Ombudsman decisions and surveys."""

    window_months: int = Field(default=3, ge=1, le=24, description="length of the rolling window, in months")
    previous_windows: int = Field(default=3, ge=0, le=12, description="earlier windows shown for the trend")
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="how sure a source must be that a team differs before it signals"
    )
    min_sources: int = Field(default=2, ge=1, description="sources that must signal concern before a flag")
    overdispersion: Literal["none", "multiplicative", "additive"] = Field(
        default="none",
        description=(
            "widen the funnel limits where teams differ more than chance allows (Spiegelhalter 2005): "
            "none (exact limits), multiplicative or additive"
        ),
    )
    satisfied_from: int = Field(default=4, ge=1, le=5, description="survey score counted as satisfied (1-5 scale)")


class Recalculation(_Strict):
    """A cycle from which the p-charts' limits are worked out afresh, and why (shown on the charts)."""

    cycle: str = Field(min_length=1, description="the first cycle of the new period, by its reference")
    reason: str = Field(
        min_length=1, max_length=120, description="the change in practice: a new audit tool, a restructure"
    )


class Reports(_Strict):
    """The cycle's reports, the workshop dataset and who receives them."""

    past_cycles: int = Field(
        default=24,
        ge=0,
        le=40,
        description="earlier cycles the reports compare with (the p-charts need spc_min_points - 1 for a reading)",
    )
    good_practice_examples: int = Field(default=5, ge=0, description="examples of good practice in the highlights")
    spc_run: Literal[6, 7] = Field(
        default=7,
        description="points in a row that make a shift or a trend on the p-charts (Making Data Count: 7; 6 in some)",
    )
    spc_min_points: int = Field(
        default=13,
        ge=2,
        le=41,
        description="points before a p-chart reads special cause; limits from fewer are provisional (MDC: 13)",
    )
    spc_baseline_points: int | None = Field(
        default=None,
        ge=2,
        description="fix each p-chart period's centre line and limits on its first N cycles (unset: all of them)",
    )
    spc_recalculate_from: list[Recalculation] = Field(
        default_factory=list,
        description="cycles from which the p-charts' limits are worked out afresh, each with its reason",
    )
    good_share_target: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="the share of audits good or better aimed for: the p-charts read their assurance against it",
    )
    workshop_free_text: list[Literal["strengths", "learning_points", "to_reach_higher_grade"]] = Field(
        default_factory=list, description="free-text fields kept in the anonymised workshop dataset"
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="key for the workshop dataset's pseudonyms; set QALOOP_REPORTS__PSEUDONYM_KEY, never in YAML",
    )

    link_base: str | None = Field(
        default=None,
        pattern=r"^(https?|file)://\S+$",
        description=(
            "the address where the output folder is published (an intranet or file share, http(s):// or file://): "
            "each report run links its reports and data packs there in the Prefect UI"
        ),
    )
    link_pseudonyms_across_cycles: bool = Field(
        default=False,
        description=(
            "give a case or person the same pseudonym in every cycle's workshop dataset; off, each cycle's differ "
            "(one audit recognised then re-identifies that cycle's rows only)"
        ),
    )

    @field_validator("pseudonym_key")
    @classmethod
    def _long_and_random(cls, key: SecretStr | None) -> SecretStr | None:
        # From one known pair a short or patterned key is found at once, and every pseudonym with it.
        if key is not None and (len(key.get_secret_value()) < 32 or len(set(key.get_secret_value())) < 12):
            raise ValueError(
                "the pseudonym key must be a long random secret (32 characters or more); make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return key

    @model_validator(mode="after")
    def _readable_charts(self) -> Reports:
        if self.spc_baseline_points is not None and self.spc_baseline_points < self.spc_min_points:
            raise ValueError(
                f"spc_baseline_points ({self.spc_baseline_points}) is fewer than spc_min_points "
                f"({self.spc_min_points}): limits fixed on so few cycles would stay provisional for good"
            )
        cycles = [recalculation.cycle for recalculation in self.spc_recalculate_from]
        if len(set(cycles)) < len(cycles):
            raise ValueError("spc_recalculate_from names a cycle twice")
        return self


class DeepDives(_Strict):
    """When a cycle report's figures start a deep dive of similar cases by themselves, and how large it is."""

    start_on_concern: bool = Field(default=True, description="start a deep dive when a report finds a concern")
    concern_below: float = Field(
        default=0.5, gt=0, le=1, description="share good or better (or answered yes) under which it is a concern"
    )
    concern_min_audits: int = Field(default=8, ge=1, description="audits (or answers) needed before it counts")
    sample_size: int = Field(default=20, ge=1, description="cases a concern's deep dive audits")
    concern_window_days: int = Field(
        default=42,
        ge=1,
        description="a concern looked into by a deep dive starts no other for this many days (kept in the store, "
        "whatever the Prefect server's automation remembers)",
    )


class Alerts(_Strict):
    """When the QA team hears that runs are not happening."""

    late_after_minutes: int = Field(
        default=30, ge=1, description="a run this many minutes past its start time, not started, is alerted"
    )


class Returns(_Strict):
    """Where returned audits, self-reflections and corrective actions arrive, and where they go after."""

    folder: Path = Field(
        default=Path("var/returns"),
        description="inbox/ is the drop folder; files move to processed/ or quarantine/ beside it",
    )
    max_file_megabytes: float = Field(
        default=20, gt=0, description="a returned file bigger than this is quarantined unread"
    )
    max_expanded_megabytes: float = Field(
        default=50, gt=0, description="a workbook whose content unzips to more than this is quarantined unread"
    )
    max_rows: int = Field(
        default=10_000,
        ge=1,
        le=20_000,
        description="rows one CSV export may hold (at most 20,000: split a bigger export); more and it is quarantined",
    )

    @property
    def inbox(self) -> Path:
        return self.folder / "inbox"

    @property
    def processed(self) -> Path:
        return self.folder / "processed"

    @property
    def quarantine(self) -> Path:
        return self.folder / "quarantine"


class FollowUp(_Strict):
    """What follows a filed audit: corrective actions, who hears of them, and who is the QA lead."""

    action_due_working_days: int | None = Field(
        default=None,
        ge=1,
        description="working days after the audit a corrective action is due; blank: the end of the month after",
    )
    workforce_development: list[EmailStr] = Field(
        default_factory=list, description="told of every below-standard audit so training can follow (Essex: ESCA)"
    )
    qa_lead: EmailStr | None = Field(default=None, description="the top of the escalation ladder (default: qa_team)")


class ReminderStep(_Strict):
    days: int = Field(description="working days relative to the due date; negative is before")
    notify: Literal["assignee", "service_manager", "qa_lead"]


def _ladder() -> list[ReminderStep]:
    return [
        ReminderStep(days=-3, notify="assignee"),
        ReminderStep(days=0, notify="assignee"),
        ReminderStep(days=2, notify="service_manager"),
        ReminderStep(days=5, notify="qa_lead"),
    ]


def _in_increasing_days(ladders: _Strict, where: str) -> None:
    """Each of ``ladders``' ladders has its steps in increasing order of days, each day once."""
    for name in type(ladders).model_fields:
        days = [step.days for step in getattr(ladders, name)]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError(f"{where}{name} steps must be in increasing order of days, got {days}")


class Reminders(_Strict):
    """The reminder and escalation ladder for each kind of work qaloop chases."""

    audit: list[ReminderStep] = Field(default_factory=_ladder)
    self_reflection: list[ReminderStep] = Field(default_factory=_ladder)
    moderation: list[ReminderStep] = Field(default_factory=_ladder)
    corrective_action: list[ReminderStep] = Field(default_factory=_ladder)

    @model_validator(mode="after")
    def _ordered(self) -> Reminders:
        _in_increasing_days(self, "")
        return self


class Email(_Strict):
    """SMTP settings. Councils point this at their own relay; login and TLS are optional."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = Field(default=None, description="set through QALOOP_EMAIL__PASSWORD, never in YAML")
    from_address: EmailStr
    from_name: str = "Quality Assurance"
    reply_to: EmailStr | None = None
    messages_per_minute: int = Field(default=30, ge=1, description="Exchange Online allows 30 a minute")
    recipients_per_day: int = Field(
        default=10_000, ge=1, description="Exchange Online allows 10,000 recipients in any 24 hours"
    )
    qa_team: list[EmailStr] = Field(min_length=1, description="the QA team's inbox(es) for summaries and alerts")
    reconnect_after_seconds: list[float] = Field(
        default=[5, 30, 120],
        description="when the relay says try again later (421) or drops the session, wait this long and connect "
        "again, once per entry; then the batch stops, and the next attempt or run resumes it",
    )

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Email:
        if self.ssl and self.starttls:
            raise ValueError("choose either ssl (implicit TLS, port 465) or starttls (port 587), not both")
        return self


class ColumnSpec(_Strict):
    """How one canonical column is made from a source that does not hold it as such: taken from a column (or
    the first non-blank of several), translated through a map of values, given a default where blank, or
    the same value for every row."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str | list[str] | None = Field(
        default=None, alias="from", description="the source's column, or several: the first non-blank is taken"
    )
    values: dict[str, str] = Field(
        default_factory=dict,
        description="source value -> canonical value (matched ignoring case and surrounding spaces); a value "
        "not in the map is kept as it is, so the checks name it",
    )
    default: str | None = Field(default=None, description="the value where the source's is blank")
    constant: str | None = Field(default=None, description="this value for every row (no source column)")

    @model_validator(mode="after")
    def _a_column_or_a_constant(self) -> ColumnSpec:
        if (self.from_ is None) == (self.constant is None):
            raise ValueError("give either `from` (the source's column or columns) or `constant`, not both or neither")
        return self

    @classmethod
    def of(cls, mapped: str | ColumnSpec) -> ColumnSpec:
        """A mapping's entry as a spec: a bare name is the column of that name."""
        return cls(from_=mapped) if isinstance(mapped, str) else mapped

    @property
    def sources(self) -> list[str]:
        """The source's columns this canonical column is taken from, in order."""
        return [] if self.from_ is None else [self.from_] if isinstance(self.from_, str) else list(self.from_)


class _Source(_Strict):
    columns: dict[str, str | ColumnSpec] = Field(
        default_factory=dict,
        description="canonical column -> the source's column, or how to make it (see ColumnSpec); unmapped "
        "columns keep their name",
    )
    date_format: str | None = Field(default=None, description="strftime format of text dates, e.g. %d/%m/%Y")

    def column_spec(self, name: str) -> ColumnSpec:
        """How the canonical column ``name`` is made from this source (by default: the column of that name)."""
        return ColumnSpec.of(self.columns.get(name, name))


class CsvSource(_Source):
    kind: Literal["csv"]
    path: Path
    delimiter: str | None = Field(default=None, description="detected from the header (, ; tab |) when omitted")
    encoding: str | None = Field(
        default=None, description="detected when omitted: UTF-8 (with or without a BOM), else Windows-1252 (cp1252)"
    )


class XlsxSource(_Source):
    kind: Literal["xlsx"]
    path: Path
    sheet: str | None = Field(default=None, description="sheet name; the first sheet when omitted")


class SqlSource(_Source):
    kind: Literal["sql"]
    url: SecretStr = Field(
        description="SQLAlchemy URL of the reporting database (qaloop's own store only if you name it here)"
    )
    query: str = Field(description="one SELECT; use :as_of for the run date, never string formatting")

    @field_validator("query")
    @classmethod
    def _one_statement(cls, query: str) -> str:
        # Read in a read-only transaction as well; a second statement is refused before anything runs.
        if ";" in query.strip().rstrip(";"):
            raise ValueError("a source's query is one statement: it holds a ';' before its end")
        return query


class AnnexASource(_Source):
    """Ofsted's Annex A workbook as the case extract (children's services)."""

    kind: Literal["annex_a"]
    path: Path
    lists: dict[int, str] = Field(
        min_length=1, description="Annex A list number -> audit type id, e.g. {7: child_protection}"
    )

    @field_validator("lists")
    @classmethod
    def _case_lists(cls, lists: dict[int, str]) -> dict[int, str]:
        not_cases = {
            1: "list 1 (contacts) cannot be audited as cases: a contact is not allocated to a worker",
            11: "list 11 (adopters) cannot be audited as cases: it lists adopters, not children",
        }
        problems = [not_cases[number] for number in sorted(lists) if number in not_cases]
        problems += [
            f"there is no Annex A list {number} (the lists are 1 to 11)"
            for number in sorted(lists)
            if not 1 <= number <= 11
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return lists


class CqcApiSource(_Source):
    """CQC's public API as the CQC ratings: each stored provider's location record, its current ratings (for a
    council with an API subscription key, in place of the directory file)."""

    kind: Literal["cqc_api"]
    base_url: str = Field(default="https://api.service.cqc.org.uk/public/v1", pattern=r"^https?://")
    subscription_key: SecretStr | None = Field(
        default=None, description="set through QALOOP_SOURCES__CQC_RATINGS__SUBSCRIPTION_KEY, never in YAML"
    )
    timeout_seconds: float = Field(default=30, gt=0, le=300)


Source = Annotated[CsvSource | XlsxSource | SqlSource | AnnexASource | CqcApiSource, Field(discriminator="kind")]

CqcRating = Literal[CQC_RATING_WORDS]  # type: ignore[valid-type]
CqcAction = Literal[CQC_ACTIONS]  # type: ignore[valid-type]
ConcernKind = Literal[CONCERN_KINDS]  # type: ignore[valid-type]
NoticeKind = Literal[CONTRACT_NOTICE_KINDS]  # type: ignore[valid-type]


KeyQuestion = Literal[CQC_KEY_QUESTIONS]  # type: ignore[valid-type]


class _Threshold(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", description="the rule's short name, as proposals cite it")
    level: Literal[2, 3] = Field(description="the threshold level a provider meeting the rule is proposed for")
    key_question: KeyQuestion | None = Field(
        default=None,
        description="the Quality Outcomes Framework key question the panel pack shows the rule's evidence under "
        "(absent: Safe for enforcement and safeguarding concerns, Effective for quality concerns, else Well-led)",
    )


class CqcOverallRule(_Threshold):
    """The provider's latest CQC overall rating is one of ``ratings``."""

    kind: Literal["cqc_overall"]
    ratings: list[CqcRating] = Field(min_length=1)


class CqcKeyQuestionsRule(_Threshold):
    """At least ``at_least`` of the five key questions are rated one of ``ratings`` (5: "in all areas")."""

    kind: Literal["cqc_key_questions"]
    ratings: list[CqcRating] = Field(min_length=1)
    at_least: int = Field(default=1, ge=1, le=len(CQC_KEY_QUESTIONS))


class CqcEnforcementRule(_Threshold):
    """CQC served one of ``actions`` within the last ``within_months``."""

    kind: Literal["cqc_enforcement"]
    actions: list[CqcAction] = Field(min_length=1)
    within_months: int = Field(default=12, ge=1, le=60)


class ConcernsAboveExpectedRule(_Threshold):
    """More ``concern`` concerns in the last ``within_months`` than a service of its type and size would have at
    the rate of the authority's other services of that type: above the exact Poisson limit at ``confidence``,
    the limits the triangulation uses."""

    kind: Literal["concerns_above_expected"]
    concern: ConcernKind
    within_months: int = Field(default=12, ge=1, le=60)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class RepeatedConcernsRule(_Threshold):
    """At least ``at_least`` ``concern`` concerns in the last ``within_months``, whatever the service's size."""

    kind: Literal["repeated_concerns"]
    concern: ConcernKind
    at_least: int = Field(default=3, ge=2)
    within_months: int = Field(default=6, ge=1, le=60)


class ReturnsMissingRule(_Threshold):
    """The monthly monitoring return missing for the last ``months_running`` months it was due, running."""

    kind: Literal["returns_missing"]
    months_running: int = Field(default=2, ge=1, le=24)


class ActionsOverdueRule(_Threshold):
    """At least ``at_least`` improvement plan actions not completed ``overdue_days`` or more days after their due
    date."""

    kind: Literal["actions_overdue"]
    at_least: int = Field(default=1, ge=1)
    overdue_days: int = Field(default=0, ge=0)


class ContractNoticeRule(_Threshold):
    """One of ``notices`` in place (served, not lifted), and in place for more than ``longer_than_months`` when
    that is given."""

    kind: Literal["contract_notice"]
    notices: list[NoticeKind] = Field(min_length=1)
    longer_than_months: int | None = Field(default=None, ge=1, le=60)


ThresholdRule = Annotated[
    CqcOverallRule
    | CqcKeyQuestionsRule
    | CqcEnforcementRule
    | ConcernsAboveExpectedRule
    | RepeatedConcernsRule
    | ReturnsMissingRule
    | ActionsOverdueRule
    | ContractNoticeRule,
    Field(discriminator="kind"),
]

_THRESHOLD_ADAPTER: TypeAdapter[ThresholdRule] = TypeAdapter(ThresholdRule)


def _appendix_2() -> list[ThresholdRule]:
    """Herefordshire's quality assurance thresholds (Appendix 2), as rules."""
    rules: list[dict[str, Any]] = [
        {"id": "cqc_inadequate", "level": 3, "kind": "cqc_overall", "ratings": ["Inadequate"]},
        {"id": "cqc_ri_all_areas", "level": 3, "kind": "cqc_key_questions", "ratings": ["Requires improvement",
            "Inadequate"], "at_least": 5},
        {"id": "cqc_cancellation", "level": 3, "kind": "cqc_enforcement",
            "actions": ["notice of proposal to cancel", "notice of decision to cancel"], "within_months": 12},
        {"id": "further_default", "level": 3, "kind": "contract_notice", "notices": ["further default"]},
        {"id": "suspension_over_3_months", "level": 3, "kind": "contract_notice",
            "notices": ["advisory", "placement suspension"], "longer_than_months": 3},
        {"id": "cqc_ri_some_areas", "level": 2, "kind": "cqc_key_questions", "ratings": ["Requires improvement",
            "Inadequate"]},
        {"id": "cqc_ri_overall", "level": 2, "kind": "cqc_overall", "ratings": ["Requires improvement"]},
        {"id": "cqc_warning_or_conditions", "level": 2, "kind": "cqc_enforcement",
            "actions": ["warning notice", "requirement notice", "conditions imposed"], "within_months": 12},
        {"id": "safeguarding_above_expected", "level": 2, "kind": "concerns_above_expected",
            "concern": "safeguarding", "within_months": 12},
        {"id": "repeated_quality_concerns", "level": 2, "kind": "repeated_concerns", "concern": "quality",
            "at_least": 3, "within_months": 6},
        {"id": "returns_missing", "level": 2, "kind": "returns_missing", "months_running": 2},
        {"id": "actions_overdue", "level": 2, "kind": "actions_overdue", "at_least": 1, "overdue_days": 14},
        {"id": "default_notice", "level": 2, "kind": "contract_notice", "notices": ["default"]},
        {"id": "advisory_or_suspension", "level": 2, "kind": "contract_notice",
            "notices": ["advisory", "placement suspension"]},
    ]  # fmt: skip
    return [_THRESHOLD_ADAPTER.validate_python(rule) for rule in rules]


class _UrgentTrigger(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", description="the trigger's short name, as the panel's email cites it")


class UrgentEnforcement(_UrgentTrigger):
    """CQC served one of ``actions``."""

    kind: Literal["cqc_enforcement"]
    actions: list[CqcAction] = Field(min_length=1)


class UrgentConcern(_UrgentTrigger):
    """A concern of one of ``concerns`` was raised, flagged serious when ``serious_only``."""

    kind: Literal["concern"]
    concerns: list[ConcernKind] = Field(min_length=1)
    serious_only: bool = True


UrgentTrigger = Annotated[UrgentEnforcement | UrgentConcern, Field(discriminator="kind")]


def _major_concerns() -> list[UrgentTrigger]:
    """Herefordshire's major concerns that bring the panel forward: CQC moving to cancel a registration, and a
    safeguarding concern flagged serious."""
    return [
        UrgentEnforcement(
            id="cqc_cancellation", kind="cqc_enforcement",
            actions=["notice of proposal to cancel", "notice of decision to cancel"],
        ),
        UrgentConcern(id="serious_safeguarding", kind="concern", concerns=["safeguarding"], serious_only=True),
    ]  # fmt: skip


MonitoringActivity = Literal[MONITORING_ACTIVITIES]  # type: ignore[valid-type]


class MonitoringRequirement(_Strict):
    """What a provider at one of ``levels`` needs: one of ``activities`` every ``every_months`` (counted from the
    last one, and from when the provider came to these levels), or once within ``within_weeks`` of coming to
    them; done by the quality team or asked of the provider (``by``, who is then chased for it)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", description="the requirement's short name, as the summaries cite it")
    levels: list[Literal[1, 2, 3]] = Field(min_length=1, description="the threshold levels it applies at")
    activities: list[MonitoringActivity] = Field(min_length=1, description="the activities that meet it")
    every_months: int | None = Field(default=None, ge=1, le=60)
    within_weeks: int | None = Field(default=None, ge=1, le=104)
    by: Literal["quality_team", "provider"] = Field(
        default="quality_team", description="who does it: the quality team, or the provider (then chased)"
    )

    @model_validator(mode="after")
    def _one_period(self) -> MonitoringRequirement:
        if (self.every_months is None) == (self.within_weeks is None):
            raise ValueError(
                f"monitoring requirement {self.id}: give every_months or within_weeks, not both or neither"
            )
        return self


def _monitoring_and_measures() -> list[MonitoringRequirement]:
    """Appendix 2's "Monitoring and measures": an annual visit or contact and a self-assessment for every
    provider, an unannounced visit within 6 weeks of coming to level 2 or 3, a monthly contract monitoring
    meeting at level 3."""
    return [
        MonitoringRequirement(
            id="annual_visit_or_contact", levels=[1, 2, 3], every_months=12,
            activities=["announced visit", "unannounced visit", "annual contact"],
        ),
        MonitoringRequirement(
            id="annual_self_assessment", levels=[1, 2, 3], every_months=12, activities=["self-assessment"],
            by="provider",
        ),
        MonitoringRequirement(
            id="unannounced_visit", levels=[2, 3], within_weeks=6, activities=["unannounced visit"]
        ),
        MonitoringRequirement(
            id="contract_monitoring_meeting", levels=[3], every_months=1, activities=["contract monitoring meeting"]
        ),
    ]  # fmt: skip


class ProviderStep(_Strict):
    days: int = Field(description="working days relative to the due date; negative is before")
    notify: Literal["provider", "quality_team"]


def _provider_ladder() -> list[ProviderStep]:
    return [
        ProviderStep(days=-3, notify="provider"),
        ProviderStep(days=1, notify="provider"),
        ProviderStep(days=5, notify="provider"),
        ProviderStep(days=10, notify="quality_team"),
    ]


class ProviderReminders(_Strict):
    """The reminder and escalation ladder, in working days, for what providers are asked for."""

    monitoring_return: list[ProviderStep] = Field(default_factory=_provider_ladder)
    improvement_action: list[ProviderStep] = Field(default_factory=_provider_ladder)
    requirement: list[ProviderStep] = Field(
        default_factory=_provider_ladder, description="the requirements done by the provider (a self-assessment)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ProviderReminders:
        _in_increasing_days(self, "provider_quality.reminders.")
        return self


class Deciders(_Strict):
    """Who may record a decision on a provider's level (staff ids): the quality team's team managers decide on a
    provider that stays at level 1; the quality review panel (its chair, or whoever records its minutes) decides
    on every other, that is whenever level 2 or 3 is proposed, held or decided."""

    team_managers: list[str] = Field(min_length=1)
    panel: list[str] = Field(min_length=1)


class ProviderQuality(_Strict):
    """The commissioned market's quality monitoring: the threshold rules a provider's level is proposed from, the
    urgent triggers, the monitoring each level needs, and the chasing of what providers are asked for."""

    rules: list[ThresholdRule] = Field(
        default_factory=_appendix_2, min_length=1, description="threshold rules; default: Herefordshire's Appendix 2"
    )
    panel: list[EmailStr] = Field(
        default_factory=list,
        description="the quality review panel's members, told when a month's levels wait for their decisions "
        "(absent: the QA team)",
    )
    urgent: list[UrgentTrigger] = Field(
        default_factory=_major_concerns,
        description="major concerns that bring the panel forward: the panel emailed at once and an urgent review run",
    )
    urgent_within_days: int = Field(
        default=14,
        ge=1,
        le=366,
        description="only a concern dated within this many days raises an urgent review (older ones loaded with a "
        "history are for the monthly levels)",
    )
    quality_team: list[EmailStr] = Field(
        default_factory=list,
        description="the provider quality team, sent the daily overdue summary and the escalations (absent: the "
        "QA team)",
    )
    monitoring: list[MonitoringRequirement] = Field(
        default_factory=_monitoring_and_measures,
        description="what each level needs; default: Herefordshire's Appendix 2",
    )
    monitoring_since: date | None = Field(
        default=None,
        description="the day monitoring by level began: a requirement never met counts from it (absent: such a "
        "requirement is reported as not reckonable, never as met)",
    )
    returns_due_day: int = Field(
        default=10, ge=1, le=28, description="the day of the following month a monthly monitoring return is due"
    )
    reminders: ProviderReminders = Field(default_factory=ProviderReminders)
    deciders: Deciders | None = Field(
        default=None, description="who may record decisions (absent: anyone, each decision naming who made it)"
    )
    panel_meetings: list[date] = Field(
        default_factory=list,
        description="the quality review panel's meeting days; each gets its pack pack_working_days_before it",
    )
    pack_working_days_before: int = Field(default=5, ge=1, le=20)
    dashboard_to: list[EmailStr] = Field(
        default_factory=list,
        description="commissioners and leadership, sent the market dashboard with each pack (absent: the quality team)",
    )

    @model_validator(mode="after")
    def _rule_ids_unique(self) -> ProviderQuality:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"provider_quality.rules: rule ids must be unique, got {ids}")
        triggers = [trigger.id for trigger in self.urgent]
        if len(set(triggers)) != len(triggers):
            raise ValueError(f"provider_quality.urgent: trigger ids must be unique, got {triggers}")
        requirements = [requirement.id for requirement in self.monitoring]
        if len(set(requirements)) != len(requirements):
            raise ValueError(f"provider_quality.monitoring: requirement ids must be unique, got {requirements}")
        return self


Polarity = Literal[POLARITIES]  # type: ignore[valid-type]
# Coventry's four lenses of the service performance review (Appendix 2): where an indicator is evidence.
Lens = Literal["independent", "provider", "professional", "citizen"]


class IndicatorDefinition(_Strict):
    """One key performance indicator: what it measures, which way is better, who owns it and the lens of the
    service review it is evidence for."""

    title: str = Field(min_length=1, max_length=200)
    polarity: Polarity
    owner: str = Field(min_length=1, max_length=64, description="the staff id of the indicator's owner")
    lens: Lens = "independent"
    per: int | None = Field(
        default=None,
        ge=1,
        description="a rate's scale: 100 for a percentage, 10000 for a rate per 10,000 (absent: not a rate)",
    )
    unit: str = Field(default="", max_length=24, description="what the figure counts, e.g. days (absent: none)")
    target: float | None = Field(default=None, description="the target where the KPI return gives none")


class ServiceArea(_Strict):
    """A service area, as the KPI return and the head of service's review name it: who heads it, the teams whose
    cases, staff, complaints and surveys are its own, and the dates of its six-monthly review panels."""

    name: str = Field(min_length=1, max_length=120)
    head_of_service: str | None = Field(
        default=None, min_length=1, max_length=64, description="the head of service's staff id (absent: no reviews)"
    )
    teams: list[str] = Field(
        default_factory=list, description="team names as the staff list has them (absent: the whole service's)"
    )
    panels: list[date] = Field(default_factory=list, description="the dates of the service performance review panels")

    @model_validator(mode="after")
    def _panels_have_a_head(self) -> ServiceArea:
        if self.panels and self.head_of_service is None:
            raise ValueError(f"{self.name}: review panels are set, but no head_of_service to send the workbook to")
        return self


class ReviewStep(_Strict):
    """A reminder to return the review workbook, ``days`` working days after it was due, to the head of service
    (``notify: head of service``) or to them with the QA lead copied in."""

    days: int = Field(ge=0, le=60)
    notify: Literal["head of service", "head of service and QA lead"] = "head of service"


class Reviews(_Strict):
    """The six-monthly service performance reviews: when each head of service gets the workbook, when it is due
    back, and how it is chased."""

    send_working_days_before: int = Field(default=15, ge=2, le=60, description="the workbook goes this many working "
                                          "days before the panel")  # fmt: skip
    due_working_days_before: int = Field(default=5, ge=1, le=59, description="the self-assessment is due this many "
                                         "working days before the panel")  # fmt: skip
    chase: list[ReviewStep] = Field(
        default_factory=lambda: [ReviewStep(days=0), ReviewStep(days=2, notify="head of service and QA lead")]
    )

    @model_validator(mode="after")
    def _in_order(self) -> Reviews:
        if self.due_working_days_before >= self.send_working_days_before:
            raise ValueError(
                f"governance.reviews: the workbook is due {self.due_working_days_before} working days before the "
                f"panel, not after it is sent ({self.send_working_days_before} before)"
            )
        days = [step.days for step in self.chase]
        if days != sorted(set(days)):
            raise ValueError(f"governance.reviews.chase: steps must be in increasing working days, got {days}")
        return self


ExceptionKind = Literal[EXCEPTIONS]  # type: ignore[valid-type]


class EscalationStep(_Strict):
    """A reminder to acknowledge an escalation, ``days`` working days after it was raised, to the senior leadership
    team (``notify: leadership``) or to it with the QA lead copied in."""

    days: int = Field(ge=1, le=60)
    notify: Literal["leadership", "leadership and QA lead"] = "leadership"


class Escalations(_Strict):
    """Escalation by exception: which events are raised at once to the senior leadership team, and how an
    escalation not yet acknowledged is chased."""

    to: list[EmailStr] = Field(min_length=1, description="the named senior leadership team")
    exceptions: list[ExceptionKind] | None = Field(
        default=None,
        min_length=1,
        description="the events raised (absent: every one, provider_level_3 where provider_quality is configured)",
    )
    action_overdue_working_days: int = Field(default=10, ge=1, le=120)
    look_back_days: int = Field(
        default=14, ge=1, le=366, description="events older than this are not raised (a first run raises no backlog)"
    )
    chase: list[EscalationStep] = Field(
        default_factory=lambda: [EscalationStep(days=2), EscalationStep(days=5, notify="leadership and QA lead")]
    )

    @model_validator(mode="after")
    def _steps_in_order(self) -> Escalations:
        days = [step.days for step in self.chase]
        if days != sorted(set(days)):
            raise ValueError(f"governance.escalations.chase: steps must be in increasing working days, got {days}")
        return self


class StandardEvidence(_Strict):
    """What is evidence for a quality standard, from each of the four sources: the audit tool's aspects and
    questions (case records), the survey questions (people's experience), the complaint themes (complaints and
    organisational data) and the key indicators."""

    aspects: list[str] = Field(default_factory=list, description="audit tool aspect ids: all their questions")
    questions: list[str] = Field(default_factory=list, description="audit tool question ids")
    survey_questions: list[str] = Field(default_factory=list, description="question ids as the survey extract has them")
    complaint_themes: list[str] = Field(default_factory=list, description="themes as the complaints extract has them")
    indicators: list[str] = Field(default_factory=list, description="ids in governance.indicators")


class QualityStandard(_Strict):
    """A statement of what good looks like (Warwickshire's five, or a council's own), with its evidence."""

    title: str = Field(min_length=1, max_length=300)
    evidence: StandardEvidence = Field(default_factory=StandardEvidence)


class Governance(_Strict):
    """The leadership's governance: the key performance indicators and the monthly performance compendium, the
    quality standards and their evidence, and escalation by exception."""

    indicators: dict[str, IndicatorDefinition] = Field(
        default_factory=dict, description="by the id the KPI return uses"
    )
    service_areas: dict[str, ServiceArea] = Field(
        default_factory=dict, description="by id; the KPI return may name each by its id or its name"
    )
    compendium_day: int = Field(
        default=4, ge=1, le=28, description="the compendium goes on this day of the month, or the next working day"
    )
    compendium_to: list[EmailStr] = Field(
        default_factory=list, description="the managers' distribution list for the compendium (absent: the QA team)"
    )
    months_charted: int = Field(default=24, ge=2, le=60, description="the months each indicator's chart shows")
    escalations: Escalations | None = Field(default=None, description="escalation by exception (absent: none)")
    quarterly_day: int = Field(
        default=10, ge=1, le=28, description="the quarterly report goes from this day of the month after the quarter"
    )
    quarterly_to: list[EmailStr] = Field(
        default_factory=list, description="the leadership team's list for the quarterly report (absent: the QA team)"
    )
    quarters_compared: int = Field(default=8, ge=2, le=20, description="earlier quarters the report compares with")
    standards: dict[str, QualityStandard] = Field(
        default_factory=dict, description="the quality standards by id, each with what is evidence for it"
    )
    grade_descriptions: dict[str, str] = Field(
        default_factory=dict, description="what each grade of the scale means (Warwickshire's Appendix 3)"
    )
    reviews: Reviews = Field(default_factory=Reviews, description="the six-monthly service performance reviews")

    @model_validator(mode="after")
    def _named_once(self) -> Governance:
        named: dict[str, set[str]] = {}
        for area_id, area in self.service_areas.items():
            for word in {area_id.casefold(), area.name.casefold()}:
                named.setdefault(word, set()).add(area_id)
        clashes = sorted(word for word, ids in named.items() if len(ids) > 1)
        if clashes:
            raise ValueError(f"governance.service_areas: {clashes} name more than one service area")
        return self

    def service_area_id(self, named: str) -> str | None:
        """The id of the service area ``named`` (its id or its name, in any case); None when none is."""
        for area_id, area in self.service_areas.items():
            if named.casefold() in (area_id.casefold(), area.name.casefold()):
                return area_id
        return None


class CheckPolicy(_Strict):
    """What a failed data check does: stop the step, or set the failing rows aside and go on."""

    on_failure: Literal["stop", "quarantine"] = "stop"
    max_quarantine_share: float = Field(
        default=0.01, ge=0, le=1, description="above this share of failing rows the step stops instead"
    )


def _default_checks() -> dict[Dataset, CheckPolicy]:
    # A few bad case, complaint or survey rows should not hold up a cycle or a triangulation; a wrong
    # staff list would misdirect every email.
    quarantined = (Dataset.CASES, Dataset.COMPLAINTS, Dataset.OMBUDSMAN, Dataset.COMPLIMENTS, Dataset.SURVEYS)
    return {dataset: CheckPolicy(on_failure="quarantine") for dataset in quarantined} | {
        Dataset.STAFF: CheckPolicy(on_failure="stop")
    }


class Settings(BaseSettings):
    """The whole configuration of one authority's QA programme."""

    model_config = SettingsConfigDict(
        env_prefix="QALOOP_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    authority: Authority
    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///var/qaloop.db"),
        description="SQLAlchemy URL; relative SQLite paths are taken from the config file's folder",
    )
    output_dir: Path = Field(default=Path("output"), description="reports, workbooks and the local mail sink")
    grade_scale: GradeScale
    audit_tools: dict[str, AuditTool] = Field(min_length=1)
    audit_types: list[AuditType] = Field(min_length=1)
    calendar: CycleCalendar
    selection: SelectionRules = SelectionRules()
    moderation: Moderation = Moderation()
    reminders: Reminders = Reminders()
    returns: Returns = Returns()
    follow_up: FollowUp = FollowUp()
    triangulation: Triangulation = Triangulation()
    reports: Reports = Reports()
    deep_dives: DeepDives = DeepDives()
    provider_quality: ProviderQuality | None = Field(
        default=None, description="the commissioned market's threshold levels (absent: the council does not run it)"
    )
    governance: Governance | None = Field(
        default=None, description="the key performance indicators and their compendium (absent: not run here)"
    )
    alerts: Alerts = Alerts()
    email: Email
    sources: dict[Dataset, Source] = Field(default_factory=dict)
    checks: dict[Dataset, CheckPolicy] = Field(
        default_factory=_default_checks, description="per dataset: stop or quarantine when its checks fail"
    )
    distribution: dict[str, list[EmailStr]] = Field(
        default_factory=dict, description="named distribution lists, e.g. governance_board"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, so secrets and per-machine URLs never need to be in YAML.
        yaml_file = settings_cls.model_config.get("yaml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        type_ids = [audit_type.id for audit_type in self.audit_types]
        if len(set(type_ids)) != len(type_ids):
            raise ValueError(f"audit type ids must be unique, got {type_ids}")
        for audit_type in self.audit_types:
            if audit_type.tool not in self.audit_tools:
                raise ValueError(
                    f"audit type {audit_type.id!r} names tool {audit_type.tool!r}; tools are {sorted(self.audit_tools)}"
                )
        shares = self.calendar.type_shares
        if shares is not None and set(shares) != set(type_ids):
            raise ValueError(f"calendar.type_shares must name exactly the audit types {type_ids}, got {sorted(shares)}")
        about_providers = sorted(d.value for d in self.sources if d in PROVIDER_INTELLIGENCE[1:])
        if about_providers and Dataset.PROVIDERS not in self.sources:
            raise ValueError(
                f"sources.{about_providers[0]}: its rows name commissioned providers, so the provider list must be "
                "configured too (add sources.providers)"
            )
        if self.governance is not None:
            self._governance_references(self.governance)
        escalations = self.governance.escalations if self.governance else None
        if escalations and "provider_level_3" in (escalations.exceptions or ()) and self.provider_quality is None:
            raise ValueError(
                "governance.escalations.exceptions: provider_level_3 needs provider_quality (the providers' levels)"
            )
        if Dataset.INDICATORS in self.sources and not (self.governance and self.governance.indicators):
            raise ValueError("sources.indicators: the indicators need their definitions (add governance.indicators)")
        for dataset, source in self.sources.items():
            if isinstance(source, AnnexASource):
                if dataset is not Dataset.CASES:
                    raise ValueError(f"sources.{dataset.value}: an Annex A workbook can only be the cases source")
                unknown_types = sorted(set(source.lists.values()) - set(type_ids))
                if unknown_types:
                    raise ValueError(f"sources.cases.lists names unknown audit type(s) {unknown_types}: {type_ids}")
            if isinstance(source, CqcApiSource) and dataset is not Dataset.CQC_RATINGS:
                raise ValueError(f"sources.{dataset.value}: the CQC API can only be the cqc_ratings source")
            schema = SCHEMAS[dataset]
            unknown = sorted(set(source.columns) - set(schema.names))
            if unknown:
                raise ValueError(
                    f"sources.{dataset.value}.columns maps unknown column(s) {unknown}; "
                    f"the {dataset.value} columns are {schema.names}"
                )
        return self

    def _governance_references(self, governance: Governance) -> None:
        """Each standard's aspects, questions and indicators, and each grade described, are configured ones."""
        aspects = {aspect.id for tool in self.audit_tools.values() for aspect in tool.aspects}
        questions = {question.id for tool in self.audit_tools.values() for question in tool.questions}
        for standard_id, standard in governance.standards.items():
            evidence = standard.evidence
            for what, named, known in (
                ("aspects", evidence.aspects, aspects),
                ("questions", evidence.questions, questions),
                ("indicators", evidence.indicators, set(governance.indicators)),
            ):
                unknown = sorted(set(named) - known)
                if unknown:
                    raise ValueError(
                        f"governance.standards.{standard_id}.evidence.{what} names unknown {what} {unknown}; "
                        f"known: {sorted(known)}"
                    )
        undescribed = sorted(set(governance.grade_descriptions) - set(self.grade_scale.labels))
        if undescribed:
            raise ValueError(
                f"governance.grade_descriptions describes {undescribed}, not grades of the scale "
                f"{self.grade_scale.labels}"
            )

    def check_policy(self, dataset: Dataset) -> CheckPolicy:
        """The configured policy for ``dataset``'s checks (stop, unless configured otherwise)."""
        return self.checks.get(dataset, CheckPolicy())

    def audit_type(self, type_id: str) -> AuditType:
        """The configured audit type with this id; KeyError if there is none."""
        for audit_type in self.audit_types:
            if audit_type.id == type_id:
                return audit_type
        raise KeyError(type_id)

    def tool_for(self, type_id: str) -> AuditTool:
        """The audit tool used for cases of this audit type."""
        return self.audit_tools[self.audit_type(type_id).tool]

    @property
    def qa_lead(self) -> str:
        """The address at the top of the escalation ladder: the configured QA lead, else the QA team's inbox."""
        return str(self.follow_up.qa_lead or self.email.qa_team[0])


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration; raise ConfigError naming every bad field.

    ``path`` defaults to ``$QALOOP_CONFIG`` or ``qaloop.yaml`` in the current folder. ``overrides`` are
    field values that win over both the file and the environment (used by tests and the command line).
    """
    config_path = Path(path or os.environ.get("QALOOP_CONFIG") or DEFAULT_CONFIG)
    if not config_path.is_file():
        raise ConfigError(f"configuration file {config_path} not found (set --config or QALOOP_CONFIG)")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(yaml_file=config_path)

    try:
        loaded = _FromFile(**overrides)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(config_path, error)) from None
    except (OSError, ValueError, yaml.YAMLError) as error:  # unreadable file or YAML syntax error
        raise ConfigError(f"{config_path}: cannot be read: {error}") from None
    return _resolve_paths(loaded, config_path.resolve().parent)


def describe_validation_error(config_path: Path, error: ValidationError) -> str:
    """One line per problem: the dotted field, the value given, and the rule it broke."""
    lines = [f"{config_path}: {error.error_count()} problem(s) in the configuration"]
    for problem in error.errors(include_url=False):
        # pydantic marks a bad mapping key as "[key]"; the user only needs to see which key it was.
        field = ".".join(str(part) for part in problem["loc"] if part != "[key]") or "(top level)"
        value = problem.get("input")
        shown = "missing" if problem["type"] == "missing" else f"value {_shorten(_masked(value))}"
        if _secret(field):
            shown = "value hidden"
        lines.append(f"  - {field}: {shown}: {_masked(problem['msg'])}")
    return "\n".join(lines)


# Field names whose values are never shown, and a password inside a URL (scheme://user:password@host).
_SECRET_WORDS = ("password", "secret", "key", "token", "url")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _masked(value: Any) -> Any:
    """``value`` as it may be shown in an error: secret fields hidden at any depth, URL passwords starred."""
    if isinstance(value, dict):
        return {k: "(hidden)" if _secret(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1***@", value)
    return value


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    sources = {
        dataset: source.model_copy(update={"path": absolute(source.path)}) if hasattr(source, "path") else source
        for dataset, source in settings.sources.items()
    }
    url = settings.database_url.get_secret_value()
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:" and not url.startswith(prefix + "/"):
        database_file = absolute(Path(url[len(prefix) :]))
        url = prefix + str(database_file)
    return settings.model_copy(
        update={
            "output_dir": absolute(settings.output_dir),
            "sources": sources,
            "database_url": SecretStr(url),
            "returns": settings.returns.model_copy(update={"folder": absolute(settings.returns.folder)}),
        }
    )
