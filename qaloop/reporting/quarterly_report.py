"""The quarterly leadership QA report as the leadership team receives it: self-contained HTML (the headlines, the
share of audits good or better on its p-chart against earlier quarters, by business unit and by quality standard
from the four sources of evidence, what is strong and what must improve, the escalations and the actions), an XLSX
workbook of the same tables, and its email to the leadership team's list.

It names areas, standards, questions and escalations by reference; never a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qaloop.core.outputs import write_page, write_sheets
from qaloop.core.settings import Settings
from qaloop.governance.quarterly import QUARTERLY, STAFF_EXPERIENCE, QuarterlyReport
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.reporting.charts import spc_chart_svg
from qaloop.reporting.render import render_report


@dataclass(frozen=True)
class QuarterlyFiles:
    """Where a quarter's report was written."""

    quarter: str
    page: Path
    workbook: Path


def standards_frame(report: QuarterlyReport) -> pd.DataFrame:
    """One row per quality standard: each source's figures for the quarter."""
    return pd.DataFrame(
        [
            {
                "standard": s.standard, "title": s.title, "audit answers meeting it": s.met,
                "audit answers": s.answered, "share meeting it": s.share_met,
                "against earlier quarters": s.chart.says if s.chart else None,
                "survey answers satisfied": s.satisfied, "survey answers": s.responses,
                "complaints on its themes": s.complaints, "of which upheld": s.upheld,
                "indicators": "; ".join(s.indicators),
            }
            for s in report.standards
        ],
        columns=["standard", "title", "audit answers meeting it", "audit answers", "share meeting it",
                 "against earlier quarters", "survey answers satisfied", "survey answers", "complaints on its themes",
                 "of which upheld", "indicators"],
    )  # fmt: skip


def quarterly_context(report: QuarterlyReport, settings: Settings) -> dict[str, Any]:
    """What the report shows."""
    governance = settings.governance
    return {
        "r": report,
        "title": f"{report.authority}: quality assurance report to the leadership team, {report.quarter.label}",
        "chart": spc_chart_svg(report.chart, "Audits good or better, by quarter"),
        "grade_descriptions": governance.grade_descriptions if governance else {},
        "staff_experience": STAFF_EXPERIENCE,
        "satisfied_from": settings.triangulation.satisfied_from,
    }


def write_quarterly(settings: Settings, report: QuarterlyReport) -> QuarterlyFiles:
    """Write the quarter's report and its workbook under ``output_dir/governance/<quarter>``."""
    label = report.quarter.label.replace(" ", "-")
    folder = settings.output_dir / "governance" / label
    folder.mkdir(parents=True, exist_ok=True)
    page = write_page(folder / f"quality-report-{label}.html",
                      render_report("quarterly", quarterly_context(report, settings)))  # fmt: skip
    chart = pd.DataFrame([{"quarter": p.label, "good or better": p.hits, "audits": p.n, "share": p.share,
                           "centre": p.centre, "lower limit": p.lower, "upper limit": p.upper,
                           "special cause": "; ".join(p.special)} for p in report.chart.points])  # fmt: skip
    workbook = write_sheets(
        folder / f"quality-report-{label}.xlsx",
        {
            "by business unit": report.by_unit,
            "by standard": standards_frame(report),
            "quarters compared": chart,
            "questions short": report.short_questions,
            "escalations": report.escalations,
            "actions": pd.DataFrame([report.actions]),
            "actions register": report.register,
        },
    )
    return QuarterlyFiles(report.quarter.label, page, workbook)


def quarterly_message(settings: Settings, report: QuarterlyReport, files: QuarterlyFiles) -> Message:
    """The report to the leadership team's list (the QA team where none is configured), once a quarter."""
    governance = settings.governance
    to = [str(address) for address in governance.quarterly_to] if governance else []
    share = f"{report.share_good:.0%}" if report.share_good is not None else "no audits"
    return compose(
        settings, "quarterly", key=(QUARTERLY, report.quarter.label), to=to or list(settings.email.qa_team),
        subject=f"Quality assurance report to the leadership team, {report.quarter.label}: {report.audits} audit(s), "
        f"{share} good or better, {len(report.escalations)} escalation(s)",
        context={"quarter": report.quarter.label, "strong": report.strong(), "improve": report.improve(),
                 "says": report.chart.says, "escalations": len(report.escalations)},
        attachments=[files.page, files.workbook],
    )  # fmt: skip
