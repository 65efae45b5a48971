"""Triangulation: audit findings set beside complaints, compliments, Ombudsman decisions and survey results,
by team, area and theme, over a rolling window of whole months, to see where several sources point the
same way (Warwickshire's four sources of evidence; Essex's triangulation).

Each source is compared with the authority's own figures in the manner of a funnel plot: a team signals
concern on a source only when its figure lies beyond the limits that chance alone would give a team of its
size (``triangulation.confidence``, two-sided; exact binomial and Poisson limits, widened for over-dispersion
where ``triangulation.overdispersion`` says: see ``funnels``), and a team with too little in the window to be
judged on a source is said to be so. The sources and what signals concern:

- audits: the share graded good or better is below the lower limit;
- complaints: complaints per 100 open cases, or the share upheld (fully or partly), above the upper limit;
- compliments: compliments per 100 open cases below the lower limit;
- Ombudsman: any decision upheld against the team in the window;
- surveys: the share of answers scored satisfied below the lower limit.

A team or area is flagged where ``triangulation.min_sources`` or more sources signal concern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from qaloop.core.settings import Settings, Triangulation
from qaloop.reporting.findings import audit_findings
from qaloop.reporting.funnels import exact_limits, judge
from qaloop.store import models
from qaloop.store.handles import authority_id

Level = Literal["team", "area"]
SOURCES = ("audits", "complaints", "compliments", "Ombudsman", "surveys")
UPHELD = ("upheld", "partly upheld")


@dataclass(frozen=True)
class Window:
    """A run of whole months, first and last day inclusive."""

    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start:%b %Y} to {self.end:%b %Y}"


def windows(as_of: date, months: int, previous: int) -> list[Window]:
    """The latest window of ``months`` whole months ending before ``as_of``'s month, then ``previous``
    earlier windows, newest first."""
    found = []
    end = as_of.replace(day=1) - timedelta(days=1)
    for _ in range(previous + 1):
        first = end.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        found.append(Window(first, end))
        end = first - timedelta(days=1)
    return found


@dataclass(frozen=True)
class Evidence:
    """One window's evidence, row per item, each with ``area`` and ``team`` (blank where not known).

    audits: good, below_standard; open_cases: open_cases (per team); complaints: theme, outcome;
    ombudsman: theme, outcome; compliments: theme; surveys (one row per area and team): answers, and
    satisfied (the answers scored ``triangulation.satisfied_from`` or more).
    """

    audits: pd.DataFrame
    open_cases: pd.DataFrame
    complaints: pd.DataFrame
    ombudsman: pd.DataFrame
    compliments: pd.DataFrame
    surveys: pd.DataFrame


def read_evidence(connection: Connection, settings: Settings, periods: list[Window]) -> list[Evidence]:
    """The store's evidence for each window: audits submitted, cases open, and what people said in it."""
    authority = authority_id(connection, settings)
    case = models.CaseRecord
    # One pass over the cases for every window, grouped by team id alone: the case table is the big one.
    open_by_team = connection.execute(
        select(
            case.team_id,
            *(
                func.sum(
                    case_when(and_(case.start_date <= w.end, or_(case.end_date.is_(None), case.end_date >= w.start)))
                )
                for w in periods
            ),
        )
        .where(case.authority_id == authority)
        .group_by(case.team_id)
    ).all()
    teams = {
        team_id: (area, team)
        for team_id, area, team in connection.execute(
            select(models.Team.id, models.Area.name, models.Team.name).join(
                models.Area, models.Area.id == models.Team.area_id
            )
        )
    }
    satisfied = models.SurveyResponse.score >= settings.triangulation.satisfied_from
    evidence = []
    for index, window in enumerate(periods):
        findings = audit_findings(connection, settings, submitted_between=(window.start, window.end))
        open_cases = [(*teams[row[0]], int(row[index + 1] or 0)) for row in open_by_team]
        evidence.append(
            Evidence(
                audits=findings[["area", "team", "good", "below_standard"]],
                open_cases=pd.DataFrame(open_cases, columns=["area", "team", "open_cases"]),
                complaints=_said(connection, models.Complaint, authority, window, "received_on", ["theme", "outcome"]),
                ombudsman=_said(
                    connection, models.OmbudsmanDecision, authority, window, "decided_on", ["theme", "outcome"]
                ),
                compliments=_said(connection, models.Compliment, authority, window, "received_on", ["theme"]),
                surveys=_said(
                    connection,
                    models.SurveyResponse,
                    authority,
                    window,
                    "responded_on",
                    [],
                    counts={"answers": func.count(), "satisfied": func.sum(case_when(satisfied))},
                ),  # fmt: skip
            )
        )
    return evidence


def case_when(condition: object) -> object:
    """1 where ``condition`` holds, else 0 (for summing in SQL)."""
    return case((condition, 1), else_=0)  # type: ignore[arg-type]


def _said(
    connection: Connection,
    model: type,
    authority: int,
    window: Window,
    dated: str,
    columns: list[str],
    counts: dict[str, object] | None = None,
) -> pd.DataFrame:
    """Complaints, decisions, compliments or survey answers dated in ``window``: area, team, ``columns``;
    with ``counts``, one row per area and team with those aggregates instead."""
    counts = counts or {}
    query = (
        select(models.Area.name, models.Team.name, *(getattr(model, column) for column in columns), *counts.values())
        .select_from(model)
        .join(models.Area, models.Area.id == model.area_id)  # type: ignore[attr-defined]
        .outerjoin(models.Team, models.Team.id == model.team_id)  # type: ignore[attr-defined]
        .where(model.authority_id == authority, getattr(model, dated).between(window.start, window.end))  # type: ignore[attr-defined]
    )
    if counts:
        query = query.group_by(models.Area.name, models.Team.name)
    return _frame(connection, query, ["area", "team", *columns, *counts])


def _frame(connection: Connection, query: object, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(row) for row in connection.execute(query)], columns=columns)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Comparison:
    """Each team (or area) beside the authority (see ``compare``), and how each measure was judged: columns
    source, measure, method (see ``funnels.Judged.method``), signals (what a signal means)."""

    table: pd.DataFrame
    methods: pd.DataFrame


# Each measure a source is judged on: its source, the words for it, its count and size, the distribution and
# the side on which a team signals concern.
MEASURES = (
    ("audits", "share of audits good or better", "good", "audits", "binomial", "low"),
    ("complaints", "complaints per open case", "complaints", "open_cases", "poisson", "high"),
    ("complaints", "share of decided complaints upheld", "upheld", "decided", "binomial", "high"),
    ("compliments", "compliments per open case", "compliments", "open_cases", "poisson", "low"),
    ("surveys", "share of survey answers satisfied", "satisfied", "survey_answers", "binomial", "low"),
)


def compare(evidence: Evidence, rules: Triangulation, level: Level) -> Comparison:
    """Each team (or area) beside the authority, source by source.

    Table columns: area, unit (the team or area), open_cases, audits, share_good, below_standard, complaints,
    complaints_per_100, upheld_share, compliments, compliments_per_100, ombudsman_upheld, survey_answers,
    satisfied_share, signals (the sources signalling concern, joined by ", "), sources (how many), flagged,
    too_few (the sources with too little in the window to judge the unit on, joined by ", ").
    """
    by = ["area"] if level == "area" else ["area", "team"]
    units = evidence.open_cases.groupby(by, as_index=False)["open_cases"].sum()
    audits = evidence.audits.groupby(by).agg(
        audits=("good", "size"), good=("good", "sum"), below_standard=("below_standard", "sum")
    )
    complaints = evidence.complaints.dropna(subset=by)
    decided = complaints[complaints["outcome"] != "open"]
    counts = {
        "complaints": complaints.groupby(by).size(),
        "decided": decided.groupby(by).size(),
        "upheld": decided[decided["outcome"].isin(UPHELD)].groupby(by).size(),
        "compliments": evidence.compliments.dropna(subset=by).groupby(by).size(),
        "ombudsman_upheld": evidence.ombudsman[evidence.ombudsman["outcome"] == "upheld"]
        .dropna(subset=by)
        .groupby(by)
        .size(),
        "survey_answers": evidence.surveys.dropna(subset=by).groupby(by)["answers"].sum(),
        "satisfied": evidence.surveys.dropna(subset=by).groupby(by)["satisfied"].sum(),
    }
    table = units.set_index(by).join(audits).join(pd.DataFrame(counts)).fillna(0).reset_index()
    for column in ["audits", "good", "below_standard", *counts]:
        table[column] = table[column].astype(int)
    table["share_good"] = _share(table["good"], table["audits"])
    table["complaints_per_100"] = _share(table["complaints"] * 100, table["open_cases"])
    table["upheld_share"] = _share(table["upheld"], table["decided"])
    table["compliments_per_100"] = _share(table["compliments"] * 100, table["open_cases"])
    table["satisfied_share"] = _share(table["satisfied"], table["survey_answers"])

    verdicts: dict[str, list[pd.Series]] = {source: [] for source in SOURCES}
    methods = []
    for source, words, hits, size, family, worse in MEASURES:
        judged = judge(table[hits], table[size], family, worse, rules.confidence, rules.overdispersion)
        verdicts[source].append(judged.verdicts)
        side = "below the lower" if worse == "low" else "above the upper"
        methods.append((source, words, judged.method, f"signals concern when {side} limit"))
    verdicts["Ombudsman"].append(table["ombudsman_upheld"].gt(0).map({True: "beyond", False: "within"}))
    methods.append(("Ombudsman", "decisions upheld", "any", "signals concern when one or more is upheld"))
    signals = pd.DataFrame({s: pd.concat(v, axis=1).eq("beyond").any(axis=1) for s, v in verdicts.items()})
    too_few = pd.DataFrame({s: pd.concat(v, axis=1).eq("too few").all(axis=1) for s, v in verdicts.items()})
    table["signals"] = signals.apply(lambda row: ", ".join(s for s in SOURCES if row[s]), axis=1)
    table["sources"] = signals.sum(axis=1).astype(int)
    table["flagged"] = table["sources"] >= rules.min_sources
    table["too_few"] = too_few.apply(lambda row: ", ".join(s for s in SOURCES if row[s]), axis=1)
    table = table.rename(columns={by[-1]: "unit"})
    if level == "area":
        table.insert(0, "area", table["unit"])
    columns = [
        "area", "unit", "open_cases", "audits", "share_good", "below_standard", "complaints",
        "complaints_per_100", "upheld_share", "compliments", "compliments_per_100", "ombudsman_upheld",
        "survey_answers", "satisfied_share", "signals", "sources", "flagged", "too_few",
    ]  # fmt: skip
    return Comparison(table[columns], pd.DataFrame(methods, columns=["source", "measure", "method", "signals"]))


def _share(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).astype(float)


def themes(current: Evidence, earlier: list[Evidence], rules: Triangulation) -> pd.DataFrame:
    """Complaints, upheld complaints, Ombudsman decisions and compliments by theme in the window, beside the
    mean of the earlier windows; ``rising`` where complaints rose beyond chance (exact Poisson limits about
    the earlier mean, at the same confidence).

    Columns: theme, complaints, upheld, ombudsman, compliments, complaints_before, rising.
    """

    def count(evidence: Evidence) -> pd.DataFrame:
        complaints = evidence.complaints
        return pd.DataFrame(
            {
                "complaints": complaints.groupby("theme").size(),
                "upheld": complaints[complaints["outcome"].isin(UPHELD)].groupby("theme").size(),
                "ombudsman": evidence.ombudsman.groupby("theme").size(),
                "compliments": evidence.compliments.groupby("theme").size(),
            }
        )

    table = count(current)
    before = [count(evidence)["complaints"] for evidence in earlier]
    table = (
        table.join(pd.concat(before, axis=1).mean(axis=1).rename("complaints_before"), how="outer")
        if before
        else table.assign(complaints_before=math.nan)
    )
    table[["complaints", "upheld", "ombudsman", "compliments"]] = (
        table[["complaints", "upheld", "ombudsman", "compliments"]].fillna(0).astype(int)
    )
    upper = table["complaints_before"].map(
        lambda mean: exact_limits("poisson", 1, mean, rules.confidence)[1] if mean > 0 else math.inf
    )
    table["rising"] = table["complaints"] > upper
    return table.rename_axis("theme").reset_index().sort_values(["rising", "complaints"], ascending=False)


@dataclass(frozen=True)
class TriangulationResult:
    """The window's comparison by team, area and theme; for teams and areas ``flagged_before`` counts the
    earlier windows in which the same team or area was flagged, and ``share_good_before`` and
    ``complaints_per_100_before`` give the window just before. ``methods`` says how each measure was judged
    in the window, by level (see ``Comparison.methods``)."""

    window: Window
    teams: pd.DataFrame
    areas: pd.DataFrame
    themes: pd.DataFrame
    methods: pd.DataFrame

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged teams and areas, teams first."""
        return pd.concat(
            [
                self.teams[self.teams["flagged"]].assign(level="team"),
                self.areas[self.areas["flagged"]].assign(level="area"),
            ]
        )

    @property
    def flagged_units(self) -> list[str]:
        """Each flagged team or area with the sources that signal, as a run's summary names them."""
        return [f"{row.unit} ({row.signals})" for row in self.flagged.itertuples()]


def triangulate(connection: Connection, settings: Settings, as_of: date) -> TriangulationResult:
    """Triangulate the window ending before ``as_of``'s month against the authority, with the trend."""
    rules = settings.triangulation
    evidence = read_evidence(connection, settings, windows(as_of, rules.window_months, rules.previous_windows))
    tables, methods = {}, []
    for level in ("team", "area"):
        comparison = compare(evidence[0], rules, level)
        now = comparison.table
        methods.append(comparison.methods.assign(level=level))
        earlier = [compare(each, rules, level).table.set_index(["area", "unit"]) for each in evidence[1:]]
        keyed = now.set_index(["area", "unit"])
        keyed["flagged_before"] = sum(
            (e["flagged"].reindex(keyed.index, fill_value=False).astype(int) for e in earlier),
            start=pd.Series(0, index=keyed.index),
        )
        for measure in ("share_good", "complaints_per_100"):
            keyed[f"{measure}_before"] = earlier[0][measure].reindex(keyed.index) if earlier else math.nan
        tables[level] = keyed.reset_index()
    return TriangulationResult(
        windows(as_of, rules.window_months, 0)[0],
        tables["team"],
        tables["area"],
        themes(evidence[0], evidence[1:], rules),
        pd.concat(methods, ignore_index=True)[["level", "source", "measure", "method", "signals"]],
    )
