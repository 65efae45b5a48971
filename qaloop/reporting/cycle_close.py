"""A cycle's close: its reports written under ``output/cycles/<cycle>/reports`` and kept with the cycle in the
store, the anonymised workshop dataset, and the distribution emails queued, once each.

Who receives what: the summary report goes to ``distribution.governance_board``, the highlights report to
``distribution.senior_practitioners_network``, each area's outcome report to the area's director(s) and
service managers (from the staff list), and the workshop dataset to ``distribution.workshops`` (the QA
team when not configured). Each email carries the report and its data pack.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from qaloop.core.outputs import write_page
from qaloop.core.roles import Role
from qaloop.core.settings import Settings
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message, enqueue
from qaloop.reporting.charts import grade_bars_svg, spc_chart_svg
from qaloop.reporting.figures import CycleFigures, cycle_figures
from qaloop.reporting.render import (
    data_pack,
    good_practice,
    practice_themes,
    render_report,
    summary_context,
)
from qaloop.reporting.scrubber import Scrubber, words_in
from qaloop.reporting.workshop import workshop_dataset, write_workshop_dataset
from qaloop.store import models
from qaloop.store.handles import authority_id
from qaloop.store.lifecycle import move_cycle


@dataclass(frozen=True)
class WrittenReport:
    """One report written: what it is, where, its data pack, and who receives it."""

    kind: str
    title: str
    path: Path
    data_pack: Path
    recipients: tuple[str, ...]
    area: str | None = None


@dataclass(frozen=True)
class CycleReports:
    """Everything a cycle's close wrote; ``workshop`` is None when no pseudonym key is configured."""

    cycle_ref: str
    figures: CycleFigures
    reports: list[WrittenReport]
    workshop: Path | None
    workshop_recipients: tuple[str, ...] = field(default=())


def reports_due(engine: Engine, settings: Settings, today: date) -> list[str]:
    """The cycles that have reached their close date by ``today`` and have no summary report yet."""
    cycle, report = models.AuditCycle, models.Report
    with engine.connect() as connection:
        authority = authority_id(connection, settings)
        reported = select(report.cycle_id).where(report.kind == "summary", report.cycle_id.is_not(None))
        return list(
            connection.scalars(
                select(cycle.cycle_ref)
                .where(
                    cycle.authority_id == authority,
                    cycle.close_date <= today,
                    cycle.status.in_(("notified", "moderation")),
                    cycle.id.not_in(reported),
                )
                .order_by(cycle.selection_date)
            )
        )


def build_reports(engine: Engine, settings: Settings, cycle_ref: str, as_of: date) -> CycleReports:
    """Work out the cycle's figures (the triangulation's window ends before ``as_of``'s month), write every
    report, its data pack and the workshop dataset, keep them with the cycle and close it. Writing again
    replaces the files and the records (late returns may have moved the figures)."""
    folder = settings.output_dir / "cycles" / cycle_ref / "reports"
    with engine.connect() as connection:
        figures = cycle_figures(connection, settings, cycle_ref, as_of)
        scrub = _scrubber(connection, settings, figures)
        areas = _area_recipients(connection, settings)
    # The summary's context (and its charts) is drawn once; the other reports add to it.
    summary = summary_context(figures, settings)
    reports = [
        _write("summary", figures, folder, "summary", summary, tuple(settings.distribution.get("governance_board", [])))
    ]
    highlights = summary | {
        "title": f"{figures.authority}: highlights for the senior practitioners' network, {figures.what}",
        "themes": practice_themes(figures, figures.answers, scrub),
        "examples": good_practice(figures, settings, scrub),
    }
    reports.append(
        _write(
            "highlights",
            figures,
            folder,
            "highlights",
            highlights,
            tuple(settings.distribution.get("senior_practitioners_network", [])),
            pack=reports[0].data_pack,  # the whole cycle's figures, as the summary's
        )
    )
    audited_areas = set(figures.findings["area"])
    for area in settings.authority.areas:
        if not figures.regular and area.name not in audited_areas:
            continue  # a deep dive reports only on the areas it audited
        reports.append(
            _write(
                "area",
                figures,
                folder,
                f"area-{area.code}",
                _area_context(figures, settings, summary, area.name),
                areas.get(area.name, ()),
                area=area.name,
            )
        )
    workshop = None
    key = settings.reports.pseudonym_key
    if key is not None:
        frame = workshop_dataset(figures.findings, figures.answers, settings, key.get_secret_value().encode(), scrub)
        workshop = write_workshop_dataset(frame, folder / f"workshop-dataset-{cycle_ref}.xlsx")
    with engine.begin() as connection:
        _keep(connection, settings, cycle_ref, reports, workshop)
    recipients = tuple(settings.distribution.get("workshops", [str(a) for a in settings.email.qa_team]))
    return CycleReports(cycle_ref, figures, reports, workshop, recipients)


def _write(
    kind: str,
    figures: CycleFigures,
    folder: Path,
    name: str,
    context: dict,
    recipients: tuple[str, ...],
    area: str | None = None,
    pack: Path | None = None,
) -> WrittenReport:
    """Render the report; write its data pack unless it shares one already written (``pack``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{figures.cycle_ref}.html"
    write_page(path, render_report(kind, context))
    pack = pack or data_pack(figures, folder / f"{name}-{figures.cycle_ref}-data.xlsx", area=area)
    return WrittenReport(kind, context["title"], path, pack, tuple(str(r) for r in recipients), area)


def _area_context(figures: CycleFigures, settings: Settings, summary: dict, area: str) -> dict:
    labels = list(figures.labels)
    findings = figures.findings[figures.findings["area"] == area]
    rows = figures.grades[(figures.grades["grouping"] == "area") & (figures.grades["group"] == area)]
    row = rows.iloc[0].to_dict() if len(rows) else {"audits": 0, "good": 0, "good_share": None, "below_standard": 0}

    def bars(by: str, title: str, name_of=lambda value: value) -> object:  # noqa: ANN001
        counts = findings.groupby([by, "grade"]).size().unstack(fill_value=0).reindex(columns=labels, fill_value=0)
        return grade_bars_svg(
            {name_of(index): [int(v) for v in values] for index, values in counts.iterrows()}, labels, title
        )

    chart = figures.charts.get(f"area:{area}") or figures.charts["overall"]
    return summary | {
        "title": f"{figures.authority}: {area} outcomes, {figures.what}",
        "area": area,
        "row": row,
        "chart": chart,
        "chart_svg": spc_chart_svg(chart, f"{area}: audits good or better, by cycle (p-chart)"),
        "team_bars": bars("team", f"{area}: grades by team"),
        "type_bars": bars("audit_type", f"{area}: grades by audit type", lambda t: settings.audit_type(t).label),
    }


# The audits' free text the reports may quote and the workshop dataset may keep.
_FREE_TEXT = ("strengths", "learning_points", "to_reach_higher_grade")


def _scrubber(connection: Connection, settings: Settings, figures: CycleFigures) -> Scrubber:
    """The scrubber for the cycle's free text: every name of the authority's staff; their staff ids and
    emails, the cycle's case and person references, and every other case or person reference in the store
    that the text mentions."""
    authority = authority_id(connection, settings)
    staff = connection.execute(
        select(models.Staff.staff_ref, models.Staff.name, models.Staff.email).where(
            models.Staff.authority_id == authority
        )
    ).all()
    findings = figures.findings
    texts = [text for field in _FREE_TEXT if field in findings for text in findings[field] if isinstance(text, str)]
    mentioned = sorted({form for text in texts for word in words_in(text) for form in (word, word.upper())})
    others = []
    for start in range(0, len(mentioned), 1_000):  # a long IN list is refused by the databases past ~32,000
        chunk = mentioned[start : start + 1_000]
        others += connection.execute(
            select(models.CaseRecord.case_ref, models.CaseRecord.person_ref).where(
                models.CaseRecord.authority_id == authority,
                models.CaseRecord.case_ref.in_(chunk) | models.CaseRecord.person_ref.in_(chunk),
            )
        ).all()
    return Scrubber(
        names=[row.name for row in staff],
        references=[row.staff_ref for row in staff]
        + [row.email for row in staff]
        + findings["case_ref"].tolist()
        + findings["person_ref"].tolist()
        + [ref for row in others for ref in row],
    )


def _area_recipients(connection: Connection, settings: Settings) -> dict[str, tuple[str, ...]]:
    rows = connection.execute(
        select(models.Area.name, models.Staff.email)
        .join(models.Area, models.Area.id == models.Staff.area_id)
        .where(
            models.Staff.authority_id == authority_id(connection, settings),
            models.Staff.active.is_(True),
            models.Staff.role.in_((Role.DIRECTOR.value, Role.SERVICE_MANAGER.value)),
        )
        .order_by(models.Staff.role, models.Staff.staff_ref)
    ).all()
    found: dict[str, tuple[str, ...]] = {}
    for area, email in rows:
        found[area] = (*found.get(area, ()), email)
    return found


def _keep(
    connection: Connection, settings: Settings, cycle_ref: str, reports: list[WrittenReport], workshop: Path | None
) -> None:
    authority = authority_id(connection, settings)
    cycle_id = connection.scalar(
        select(models.AuditCycle.id).where(
            models.AuditCycle.authority_id == authority, models.AuditCycle.cycle_ref == cycle_ref
        )
    )
    packs: dict[Path, str] = {}
    for r in reports:
        packs.setdefault(r.data_pack, r.title)  # a shared pack is kept once, under its first report
    kept = [(r.kind, r.title, r.path) for r in reports] + [
        ("data_pack", f"{title}: data pack", path) for path, title in packs.items()
    ]
    if workshop is not None:
        kept.append(("workshop_dataset", f"Anonymised workshop dataset, cycle {cycle_ref}", workshop))
    report = models.Report
    connection.execute(report.__table__.delete().where(report.cycle_id == cycle_id))
    connection.execute(
        report.__table__.insert(),
        [
            {
                "authority_id": authority,
                "cycle_id": cycle_id,
                "kind": kind,
                "title": title,
                "path": str(path),
                "content_hash": hashlib.sha256(path.read_bytes()).hexdigest(),
                "created_at": models.utcnow(),
            }
            for kind, title, path in kept
        ],  # fmt: skip
    )
    move_cycle(connection, cycle_id, "closed")


def distribution_messages(settings: Settings, built: CycleReports) -> list[Message]:
    """The distribution emails of a cycle's reports, one per report to its whole list (none to an empty list)."""
    figures = built.figures
    overall = figures.overall()
    common = {
        "cycle_ref": built.cycle_ref,
        "completion": figures.completion,
        "submitted": figures.submitted,
        "allocated": figures.allocated,
        "good_share": overall["good_share"],
        "below_standard": int(overall["below_standard"]),
        "reading": figures.charts["overall"].says,
        "flagged": len(figures.triangulation.flagged),
        "good_label": settings.grade_scale.good or settings.grade_scale.standard,
    }
    messages = []
    for report in built.reports:
        if not report.recipients:
            continue
        what = report.title.split(": ", 1)[1]
        messages.append(
            compose(
                settings,
                "report",
                key=(built.cycle_ref, "report", report.kind, *([report.area] if report.area else [])),
                kind=f"report_{report.kind}",
                to=report.recipients,
                subject=f"{what[0].upper()}{what[1:]} ({settings.authority.name})",
                context=common | {"report": report.title, "area": report.area},
                attachments=[report.path, report.data_pack],
            )
        )
    if built.workshop is not None and built.workshop_recipients:
        subject = f"Cycle {built.cycle_ref}: anonymised workshop dataset"
        messages.append(
            compose(
                settings,
                "report",
                key=(built.cycle_ref, "report", "workshop_dataset"),
                kind="report_workshop",
                to=built.workshop_recipients,
                subject=subject,
                context=common | {"report": subject, "area": None},
                attachments=[built.workshop],
            )
        )
    return messages


def distribute(engine: Engine, settings: Settings, built: CycleReports) -> int:
    """Queue the distribution emails (a re-run queues nothing already queued). Returns how many were new."""
    return enqueue(engine, distribution_messages(settings, built))


def published_address(settings: Settings, path: Path) -> str | None:
    """Where ``path`` (a file under the output folder) is read at ``reports.link_base``; None where no base is
    configured or the file lies elsewhere."""
    base = settings.reports.link_base
    try:
        relative = path.resolve().relative_to(settings.output_dir.resolve())
    except ValueError:
        return None
    return f"{base.rstrip('/')}/{quote(relative.as_posix())}" if base else None


def report_index(built: CycleReports) -> pd.DataFrame:
    """The reports written, for a Prefect table artifact: kind, title, file, data pack, how many receive it."""
    rows = [
        {"report": r.kind, "title": r.title, "file": str(r.path), "data pack": str(r.data_pack),
         "recipients": len(r.recipients)}
        for r in built.reports
    ]  # fmt: skip
    if built.workshop is not None:
        rows.append({"report": "workshop dataset", "title": "Anonymised workshop dataset", "file": str(built.workshop),
                     "data pack": "", "recipients": len(built.workshop_recipients)})  # fmt: skip
    return pd.DataFrame(rows)
