"""Tasks of the cycle-report flow: write a closed cycle's reports and queue their distribution."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from qaloop.core.settings import Settings
from qaloop.reporting import cycle_close
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key


@task(name="find the cycles to report", **RETRY_IO, **NOT_CACHED)
def cycles_to_report(settings: Settings, today: date) -> list[str]:
    """The cycles that have reached their close date by ``today`` and have no summary report yet."""
    return cycle_close.reports_due(engine_from(settings), settings, today)


@task(name="write the cycle's reports", **RETRY_IO, **NOT_CACHED)
def write_reports(settings: Settings, cycle_ref: str, today: date) -> cycle_close.CycleReports:
    """Write the summary, highlights and area reports with their data packs and the workshop dataset; keep
    them with the cycle; publish the headline figures and where the files are."""
    built = cycle_close.build_reports(engine_from(settings), settings, cycle_ref, today)
    figures = built.figures
    overall = figures.overall()
    links: dict[Path, str] = {}  # the highlights share the summary's data pack: linked once
    for report in built.reports:
        for path, what in ((report.path, report.title), (report.data_pack, f"{report.title}: data pack")):
            address = cycle_close.published_address(settings, path)
            if address and path not in links:
                create_link_artifact(
                    key=artifact_key(path.stem), link=address, link_text=what, description=f"Cycle {cycle_ref}: {what}"
                )
                links[path] = f"[{what}]({address})"
    where = (
        [f"- {link}" for link in links.values()]
        if links
        else ["- The reports are in the output folder on the worker; set `reports.link_base` to link them here."]
    )
    create_markdown_artifact(
        key=artifact_key("cycle-report", cycle_ref),
        description=f"Cycle {cycle_ref}: headline figures",
        markdown="\n".join(
            [
                f"# Cycle {cycle_ref}: reports written",
                f"- Completion: {figures.submitted} of {figures.allocated} audits returned ({figures.completion:.0%}),"
                f" {figures.timeliness:.0%} by the due date",
                f"- Good or better: {overall['good']} of {overall['audits']};"
                f" below standard: {overall['below_standard']}",
                f"- Change: {figures.charts['overall'].says}",
                f"- Triangulation ({figures.triangulation.window.label}): {len(figures.triangulation.flagged)} flagged",
                "",
                "## The reports",
                *where,
            ]
        ),
    )
    create_table_artifact(
        key=artifact_key("cycle-reports", cycle_ref),
        description=f"Cycle {cycle_ref}: the reports and who receives them",
        table=cycle_close.report_index(built).to_dict("records"),
    )
    if built.workshop is None:
        get_run_logger().warning(
            "No workshop dataset: set QALOOP_REPORTS__PSEUDONYM_KEY (a secret) to have one written and sent."
        )
    return built


@task(name="queue the reports' emails", **RETRY_IO, **NOT_CACHED)
def queue_reports(settings: Settings, built: cycle_close.CycleReports) -> int:
    """Queue each report's email to its distribution list (nothing already queued is queued again)."""
    return cycle_close.distribute(engine_from(settings), settings, built)
