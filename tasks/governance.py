"""Tasks of the governance flows: check and store the month's KPI return, decide whether a month's compendium is
due, and write it with its workbook, publish its readings and queue its email; raise the escalations by exception
the store's events call for, and chase those not yet acknowledged; write the quarterly report to the leadership
team and queue it; send the service performance review workbooks due, and chase those not yet returned."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from checks.indicators import check_and_load_indicators
from checks.outcomes import CheckFailed, Intake
from qaloop.core.settings import Settings
from qaloop.governance import compendium, escalations, quarterly, review_panels
from qaloop.messaging import outbox
from qaloop.reporting.compendium_report import (
    CompendiumFiles,
    compendium_message,
    readings_frame,
    write_compendium,
)
from qaloop.reporting.quarterly_report import QuarterlyFiles, quarterly_message, write_quarterly
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO, artifact_key, publish_check


@task(name="check and store the KPI return", **RETRY_IO, **NOT_CACHED)
def load_indicators(settings: Settings, today: date) -> Intake:
    """Check the configured KPI return and store what passes; a file stored before is not read again."""
    logger = get_run_logger()
    try:
        intake = check_and_load_indicators(settings, today, on_report=publish_check)
    except CheckFailed as failed:
        logger.error("The KPI return was not stored, nothing of it was written:\n%s", failed)
        raise
    if intake.quarantine_file is not None:
        logger.warning("indicators: %d row(s) set aside in %s", len(intake.set_aside), intake.quarantine_file)
    return intake


@task(name="find the compendium due", **RETRY_IO, **NOT_CACHED)
def compendium_due(settings: Settings, today: date) -> str | None:
    """The month whose compendium goes today, if any (see ``compendium.compendium_due``)."""
    return compendium.compendium_due(engine_from(settings), settings, today)


@task(name="write and queue the compendium", **RETRY_IO, **NOT_CACHED)
def write_month(settings: Settings, month: str) -> CompendiumFiles:
    """Write ``month``'s compendium and workbook, publish each indicator's reading, and queue its email (once)."""
    engine = engine_from(settings)
    book = compendium.compendium(engine, settings, month)
    files = write_compendium(settings, book)
    outbox.enqueue(engine, [compendium_message(settings, book, files)])
    concerns = [r for r in book.readings if r.chart.latest == "concern"]
    lines = [f"# Performance compendium, {month}", "", f"- compendium: `{files.page}`",
             f"- workbook: `{files.workbook}`", ""]  # fmt: skip
    lines += [f"**{len(concerns)} special-cause concern(s):**", ""] if concerns else ["No special-cause concern."]
    lines += [f"- {r.series.indicator} {r.series.definition.title} ({r.area}): {r.chart.says}" for r in concerns]
    if book.missing:
        lines += ["", f"No figure for {month}: {', '.join(book.missing)}"]
    if book.unconfigured:
        lines += ["", f"Stored but no longer configured (not shown): {', '.join(book.unconfigured)}"]
    create_markdown_artifact(key=artifact_key("compendium", month), markdown="\n".join(lines),
                             description=f"The performance compendium, {month}")  # fmt: skip
    table = readings_frame(book)
    create_table_artifact(
        key=artifact_key("compendium", month, "indicators"),
        description=f"Every indicator's reading, {month}",
        table=table.round(2).astype(object).where(table.notna(), None).to_dict("records"),
    )
    return files


@task(name="raise the escalations by exception", **RETRY_IO, **NOT_CACHED)
def raise_exceptions(settings: Settings, today: date) -> list[int]:
    """Raise each configured event not yet escalated, its email to the senior leadership team queued with it;
    publish the escalations still open."""
    engine = engine_from(settings)
    raised = escalations.raise_escalations(engine, settings, today)
    open_ones = escalations.register(engine, settings, date.min, today)
    open_ones = open_ones[open_ones["status"] != "closed"].astype({"raised on": str})
    create_table_artifact(
        key="escalations-open",
        description=f"Escalations not yet closed, {today} ({len(raised)} raised by this run)",
        table=open_ones.astype(object).where(open_ones.notna(), None).to_dict("records"),
    )
    return raised


@task(name="chase the escalations not acknowledged", **RETRY_IO, **NOT_CACHED)
def chase_escalations(settings: Settings, today: date) -> int:
    """Queue today's reminders for the escalations not yet acknowledged (each step once); returns how many."""
    engine = engine_from(settings)
    return outbox.enqueue(engine, escalations.chase_messages(engine, settings, today))


@task(name="find the quarterly report due", **RETRY_IO, **NOT_CACHED)
def quarterly_due(settings: Settings, today: date) -> quarterly.Quarter | None:
    """The quarter whose report goes today, if any (see ``quarterly.quarterly_due``)."""
    return quarterly.quarterly_due(engine_from(settings), settings, today)


@task(name="write and queue the quarterly report", **RETRY_IO, **NOT_CACHED)
def write_quarter(settings: Settings, quarter: quarterly.Quarter) -> QuarterlyFiles:
    """Write the quarter's report and workbook, publish its headlines, and queue its email (once)."""
    engine = engine_from(settings)
    report = quarterly.quarterly_report(engine, settings, quarter)
    files = write_quarterly(settings, report)
    outbox.enqueue(engine, [quarterly_message(settings, report, files)])
    share = f"{report.share_good:.0%}" if report.share_good is not None else "no audits"
    lines = [
        f"# Quality assurance report to the leadership team, {quarter.label}",
        "",
        f"- report: `{files.page}`",
        f"- workbook: `{files.workbook}`",
        "",
        f"{report.audits} audit(s), {share} good or better; {report.chart.says}",
        "",
        "**What is strong:**",
        "",
    ]
    lines += [f"- {line}" for line in report.strong()] or ["- nothing stands out"]
    lines += ["", "**What must improve:**", ""] + (
        [f"- {line}" for line in report.improve()] or ["- nothing stands out"]
    )
    lines += ["", f"{len(report.escalations)} escalation(s) raised in the quarter."]
    create_markdown_artifact(key=artifact_key("quarterly", quarter.label), markdown="\n".join(lines),
                             description=f"The quarterly QA report, {quarter.label}")  # fmt: skip
    return files


@task(name="send the service review workbooks due", **RETRY_IO, **NOT_CACHED)
def send_review_workbooks(settings: Settings, today: date) -> review_panels.SentReviews:
    """Send each service performance review workbook due (each once), and publish where every review stands; a
    review that cannot be sent is logged with why (the flow then fails, so the QA team hears of it)."""
    engine = engine_from(settings)
    sent = review_panels.send_reviews(engine, settings, today)
    for ref, why in sent.refused.items():
        get_run_logger().error("%s not sent: %s", ref, why)
    standing = review_panels.reviews_register(engine, settings)
    create_table_artifact(
        key="service-reviews",
        description=f"Service performance reviews, {today} ({len(sent.sent)} workbook(s) sent by this run)",
        table=standing.astype(str).to_dict("records"),
    )
    return sent


@task(name="chase the service review workbooks not returned", **RETRY_IO, **NOT_CACHED)
def chase_review_workbooks(settings: Settings, today: date) -> int:
    """Queue today's reminders for the review workbooks not yet returned (each step once); returns how many."""
    engine = engine_from(settings)
    return outbox.enqueue(engine, review_panels.chase_reviews(engine, settings, today))
