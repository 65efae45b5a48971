"""Tasks that tell people: render and queue a cycle's emails, and send what is queued."""

from __future__ import annotations

import signal

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

from qaloop.allocation import notices
from qaloop.core.settings import Settings
from qaloop.messaging import outbox
from qaloop.store.engine import engine_from
from qaloop.store.handles import CycleHandle
from tasks import NOT_CACHED, RETRY_IO, worth_retrying


@task(name="queue the emails", **RETRY_IO, **NOT_CACHED)
def queue_emails(settings: Settings, cycle: CycleHandle) -> int:
    """Render and queue the auditor, self-reflection and service manager emails of the cycle."""
    return notices.notify_cycle(engine_from(settings), settings, cycle.cycle_ref)


# A mail server that drops the session often recovers within minutes: wait longer between attempts.
@task(
    name="send the emails",
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=worth_retrying,
    **NOT_CACHED,
)
def send_emails(settings: Settings) -> outbox.SendSummary:
    """Send every queued email over one SMTP session, with a progress bar in the UI.

    A stop request (cancelling the run, SIGTERM) ends the batch between two messages; the figures are
    published and the signal is then passed on, so Prefect ends the run as it would have.
    """
    progress = create_progress_artifact(progress=0.0, key="sending", description="Emails sent")

    def advance(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            update_progress_artifact(artifact_id=progress, progress=100.0 * done / total)

    try:
        summary = outbox.send_queued(engine_from(settings), settings.email, on_progress=advance)
    except outbox.MailServerUnreachable as error:  # said at once, whatever the retries then do
        get_run_logger().error("%s; every email stays queued.", error)
        raise
    create_table_artifact(
        key="emails",
        description="Emails this run",
        table=[
            {
                "sent": summary.sent,
                "of them to only some recipients": summary.partly_sent,
                "refused by the server": summary.refused,
                "still queued": summary.still_queued,
            }
        ],
    )
    if summary.stopped_by:
        get_run_logger().warning(
            "Sending stopped on request (%s) after %d email(s); %d stay queued for the next run.",
            summary.stopped_by, summary.sent, summary.still_queued,
        )  # fmt: skip
        signal.raise_signal(signal.Signals[summary.stopped_by])
    update_progress_artifact(artifact_id=progress, progress=100.0)
    return summary
