"""Tasks that tell people: render and queue a cycle's emails, send what is queued, and put back what the mail
server refused."""

from __future__ import annotations

import signal

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.runtime import flow_run

from qaloop.allocation import notices
from qaloop.core.settings import Settings
from qaloop.messaging import outbox, undelivered
from qaloop.messaging.compose import outbox_key
from qaloop.store.engine import engine_from
from qaloop.store.handles import CycleHandle
from tasks import NOT_CACHED, RETRY_IO, StoppedOnRequest, worth_retrying


@task(name="queue the emails", **RETRY_IO, **NOT_CACHED)
def queue_emails(settings: Settings, cycle: CycleHandle) -> int:
    """Render and queue the auditor, self-reflection and service manager emails of the cycle."""
    return notices.notify_cycle(engine_from(settings), settings, cycle.cycle_ref)


@task(name="count the cycle's emails delivered", **RETRY_IO, **NOT_CACHED)
def cycle_emails_delivered(settings: Settings, cycle: CycleHandle) -> int:
    """The cycle's own emails (its allocation notices and requests, later its feedback) delivered so far, by any
    run."""
    return outbox.delivered(engine_from(settings), outbox_key(settings, [cycle.cycle_ref]) + "/")


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
        # Marked with the flow run, so the run's figure counts what its every attempt sent, and nothing else.
        summary = outbox.send_queued(
            engine_from(settings), settings.email, on_progress=advance, run=f"flow-run/{flow_run.id}"
        )
    except outbox.MailServerUnreachable as error:  # said at once, whatever the retries then do
        get_run_logger().error("%s; every email stays queued.", error)
        raise
    create_table_artifact(
        key="emails",
        description="Emails this run",
        table=[
            {
                "sent by this attempt": summary.sent,
                "sent by this run in all": summary.sent_by_run,
                "of them to only some recipients": summary.partly_sent,
                "could not be built": summary.cannot_be_built,
                "refused by the server": summary.refused,
                "still queued": summary.still_queued,
            }
        ],
    )
    if summary.daily_cap_reached:
        get_run_logger().warning(
            "The relay's daily cap is reached (%d recipients in 24 hours): %d email(s) stay queued for later runs.",
            settings.email.recipients_per_day, summary.still_queued,
        )  # fmt: skip
    if summary.stopped_by:
        get_run_logger().warning(
            "Sending stopped on request (%s) after %d email(s); %d stay queued for the next run.",
            summary.stopped_by, summary.sent, summary.still_queued,
        )  # fmt: skip
        signal.raise_signal(signal.Signals[summary.stopped_by])
        # Still here: this process ignores the signal (a job started in the background by a script ignores
        # Ctrl-C), yet the stop was asked for and honoured; the run must not end as if it had finished.
        raise StoppedOnRequest(
            f"sending stopped on request ({summary.stopped_by}) after {summary.sent} email(s); "
            f"{summary.still_queued} stay queued for the next run"
        )
    _publish_undelivered(settings)
    update_progress_artifact(artifact_id=progress, progress=100.0)
    return summary


def _publish_undelivered(settings: Settings) -> None:
    """Every email that did not reach everyone (this run's and earlier ones'), by staff id, in the log and UI."""
    with engine_from(settings).connect() as connection:
        missing = undelivered.undelivered(connection)
    if not missing:
        return
    get_run_logger().warning(
        "%d email(s) did not reach everyone they were for: correct the addresses in the staff list, then run "
        "send-emails with retry_failed (or `qaloop send --retry-failed`).",
        len(missing),
    )
    create_table_artifact(
        key="undelivered-emails",
        description="Emails that did not reach everyone they were for",
        table=[
            {
                "message": message.outbox_id,
                "kind": message.kind,
                "status": "given up" if message.status == "failed" else "partly sent",
                "subject": message.subject,
                "not delivered to": "; ".join(message.refused) or message.error,
            }
            for message in missing
        ],
    )


@task(name="put back the emails the server refused", **RETRY_IO, **NOT_CACHED)
def put_back_undelivered(settings: Settings) -> undelivered.Retried:
    """Put the given-up and partly sent emails back in the queue, to their recipients' current addresses."""
    retried = undelivered.retry_undelivered(engine_from(settings))
    logger = get_run_logger()
    logger.info(
        "Put back %d email(s) given up and %d partly sent one(s) for their corrected recipients.",
        retried.requeued, retried.resent,
    )  # fmt: skip
    if retried.uncorrected:
        logger.warning("Still at the address the server refused: %s", ", ".join(retried.uncorrected))
    return retried
