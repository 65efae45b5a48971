"""Tasks of ingest-returns: file every returned file waiting in the drop folder."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from checks.returns import check_return_file
from qaloop.core.settings import Settings
from qaloop.returns.filing import FileOutcome, ingest_files
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
    for outcome in outcomes:
        filed = f"{len(outcome.filed)} filed" + (f", {len(outcome.held)} held" if outcome.held else "")
        if outcome.rejected:
            logger.warning("%s: %s; not filed:\n%s", outcome.name, filed, outcome.problem)
        else:
            logger.info("%s: %s (%s)", outcome.name, filed, outcome.status)
    if outcomes:
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
                    "not filed": "; ".join(f"{ref}: {why}" for ref, why in list(outcome.rejected.items())[:10]),
                }
                for outcome in outcomes
            ],
        )
    return outcomes
