"""The cycle's reports rendered: the summary report (governance board), the highlights report (senior
practitioners' network) and each area's outcome report, as self-contained HTML with inline SVG charts,
each with an XLSX data pack of the figures it shows.

Reports name no case, person or member of staff. Free text quoted in the highlights (learning points,
strengths) is scrubbed (``qaloop.reporting.scrubber``) before it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from qaloop.core.outputs import write_sheets
from qaloop.core.settings import Settings
from qaloop.core.templates import TEMPLATES, long_date
from qaloop.reporting.charts import grade_bars_svg, spc_chart_svg
from qaloop.reporting.figures import CycleFigures
from qaloop.reporting.scrubber import Scrubber


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "report"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["pct"] = lambda value: "n/a" if value is None or pd.isna(value) else f"{value:.0%}"
    environment.filters["num"] = lambda value: "n/a" if value is None or pd.isna(value) else f"{value:,.2f}"
    environment.filters["long_date"] = long_date
    return environment


@dataclass(frozen=True)
class Theme:
    """A practice theme: an aspect, its questions most often answered "no", and learning points behind them."""

    aspect: str
    questions: list[dict[str, Any]]
    learning_points: list[str]


def practice_themes(figures: CycleFigures, answers: pd.DataFrame, scrub: Scrubber, per_aspect: int = 3) -> list[Theme]:
    """By quality aspect, the questions answered "no" most this cycle, with learning points (scrubbed) from the
    audits that answered "no" to them; aspects with no "no" answers are left out."""
    questions = figures.questions
    themes = []
    for aspect, group in questions.groupby("aspect", sort=False):
        weak = group[group["no"] > 0].sort_values(["no", "question_id"], ascending=[False, True]).head(per_aspect)
        if weak.empty:
            continue
        short = dict(zip(weak["question_id"], weak["short"], strict=True))
        said_no = answers[answers["question_id"].map(short).eq(answers["answer"])]["return_id"]
        points = figures.findings[figures.findings["return_id"].isin(said_no)]["learning_points"].dropna()
        themes.append(
            Theme(
                str(aspect),
                weak[["question_id", "question", "no", "answered", "yes_share"]].to_dict("records"),
                list(dict.fromkeys(scrub(point) for point in points.head(per_aspect * 2)))[:per_aspect],
            )
        )
    return themes


def good_practice(figures: CycleFigures, settings: Settings, scrub: Scrubber) -> list[dict[str, str]]:
    """Examples of good practice: the strengths recorded in the best-graded audits (good or better), scrubbed,
    with the audit type, area and grade, best first; at most ``reports.good_practice_examples``."""
    findings = figures.findings
    best = findings[findings["good"] & findings["strengths"].notna()].sort_values(
        ["rank", "return_id"], ascending=[False, True]
    )
    return [
        {
            "audit_type": settings.audit_type(row.audit_type).label,
            "area": row.area,
            "grade": row.grade,
            "strengths": scrub(row.strengths),
        }
        for row in best.head(settings.reports.good_practice_examples).itertuples()
    ]


def render_report(template: str, context: dict[str, Any]) -> str:
    """``report_templates/report/<template>.html`` rendered with ``context``."""
    return _environment().get_template(f"{template}.html").render(context)


def summary_context(figures: CycleFigures, settings: Settings) -> dict[str, Any]:
    """What the summary report shows: the figures, their charts and the triangulation."""
    labels = list(figures.labels)
    grades = figures.grades
    return {
        "f": figures,
        "title": f"{figures.authority}: quality assurance summary, {figures.what}",
        "overall": figures.overall(),
        "type_label": lambda type_id: settings.audit_type(type_id).label,
        "group_name": lambda grouping, value: _group_name(grouping, value, settings),
        "grade_bars": {
            grouping: grade_bars_svg(
                {
                    _group_name(row["grouping"], row["group"], settings): [int(row[label]) for label in labels]
                    for row in grades[grades["grouping"].isin(["overall", grouping])].to_dict("records")
                },
                labels,
                f"Grades by {grouping.replace('_', ' ')}",
            )
            for grouping in ("area", "audit_type")
        },
        "overall_chart": spc_chart_svg(figures.charts["overall"], "Audits good or better, by cycle (p-chart)"),
        "small_charts": {
            key: spc_chart_svg(chart, _chart_title(key, settings), width=310, height=190)
            for key, chart in figures.charts.items()
            if key != "overall"
        },
        "good_label": settings.grade_scale.good or settings.grade_scale.standard,
        "standard": settings.grade_scale.standard,
    }


def _group_name(grouping: str, value: str, settings: Settings) -> str:
    """How a report names a group: "All audits", an area, or an audit type's label."""
    if grouping == "overall":
        return "All audits"
    return settings.audit_type(value).label if grouping == "audit_type" else value


def _chart_title(key: str, settings: Settings) -> str:
    return _group_name(*key.split(":", 1), settings)


def data_pack(figures: CycleFigures, path: Path, area: str | None = None) -> Path:
    """Write the figures (only ``area``'s where given) to an XLSX workbook, one sheet a table; returns ``path``."""
    grades = figures.grades
    findings = figures.findings if area is None else figures.findings[figures.findings["area"] == area]
    teams = figures.triangulation.teams
    trend = [
        {"chart": key, "cycle": point.label, "good_or_better": point.hits, "audits": point.n, "share": point.share,
         "centre": point.centre, "lower_limit": point.lower, "upper_limit": point.upper,
         "limits": "provisional" if chart.periods[point.period].provisional else "",
         "period_from": chart.periods[point.period].first, "recalculated_for": chart.periods[point.period].reason,
         "special_cause": "; ".join(point.special)}
        for key, chart in figures.charts.items()
        if area is None or key in ("overall", f"area:{area}")
        for point in chart.points
    ]  # fmt: skip
    sheets = {
        "Headlines": pd.DataFrame(
            [
                {"figure": "audits allocated", "value": figures.allocated},
                {"figure": "audits returned", "value": figures.submitted},
                {"figure": "returned by the due date", "value": figures.on_time},
                {"figure": "completion", "value": figures.completion},
                {"figure": "timeliness", "value": figures.timeliness},
                *(
                    {"figure": f"corrective actions: {k.replace('_', ' ')}", "value": v}
                    for k, v in figures.actions.items()
                ),
            ]
        ),
        "Grades": grades if area is None else grades[(grades["grouping"] == "area") & (grades["group"] == area)],
        "Grades by team": findings.groupby(["area", "team", "grade"]).size().unstack(fill_value=0).reset_index()
        if len(findings)
        else pd.DataFrame(),
        "Trend": pd.DataFrame(trend),
        "Questions": figures.questions,
        "Agreement": figures.agreement,
        "Triangulation teams": teams if area is None else teams[teams["area"] == area],
        "Triangulation areas": figures.triangulation.areas,
        "Themes": figures.triangulation.themes,
        "Triangulation method": figures.triangulation.methods,
        "Methods": pd.DataFrame([vars(method) for method in figures.methods]),
    }
    return write_sheets(path, sheets)
