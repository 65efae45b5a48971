"""Tasks of ingest-returns: file every returned file waiting in the drop folder."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from checks.returns import check_return_file
from qaloop.core.quoting import brief
from qaloop.core.settings import Settings
from qaloop.returns.filing import FileOutcome, ingest_files, report_passed_over
from qaloop.returns.follow_up import follow_up
from qaloop.returns.reading import inbox_files
from qaloop.store.engine import engine_from
from tasks import NOT_CACHED, RETRY_IO


@task(name="file the returned work in the drop folder", **RETRY_IO, **NOT_CACHED)
def ingest_drop_folder(settings: Settings, today: date) -> list[FileOutcome]:
    """Read and check the waiting files, file each in its own transaction, and publish what happened.

    A file that fails its checks is not an error of the run: it is quarantined, and the QA team is emailed.
    """
    logger = get_run_logger()
    engine = engine_from(settings)
    outcomes = ingest_files(engine, settings, inbox_files(settings), today, check_return_file, follow_up)
    left = report_passed_over(engine, settings, datetime.now(UTC))
    for file in left:
        logger.warning(
            "%s: %s (in the drop folder since %s)", brief(file.name, 120), file.why, f"{file.since:%d %b %Y %H:%M}"
        )
    for outcome in outcomes:
        filed = f"{len(outcome.filed)} filed" + (f", {len(outcome.held)} held" if outcome.held else "")
        if outcome.rejected:
            logger.warning("%s: %s; not filed:\n%s", outcome.name, filed, outcome.problem)
        else:
            logger.info("%s: %s (%s)", outcome.name, filed, outcome.status)
    if outcomes or left:
        create_table_artifact(
            key="returned-files",
            description=f"Returned files, {today:%d %B %Y}",
            table=[
                {
                    "file": outcome.name,
                    "kind": outcome.dataset or "unreadable",
                    "outcome": outcome.status,
                    "filed": len(outcome.filed),
                    "held for the QA team": ", ".join(outcome.held),
                    "not filed": "; ".join(f"{ref}: {why}" for ref, why in outcome.quoted_refusals()[:10]),
                }
                for outcome in outcomes
            ]
            + [
                {
                    "file": brief(file.name, 120),
                    "kind": "not read",
                    "outcome": file.why,
                    "filed": 0,
                    "held for the QA team": "",
                    "not filed": "",
                }
                for file in left
            ],
        )
    return outcomes
