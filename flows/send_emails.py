"""The send-emails flow: from the Prefect UI or a schedule of your own, send what is queued; with
``retry_failed``, first put back the emails the mail server refused, once their addresses are corrected."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from qaloop.core.settings import load_settings
from tasks import dated_run_name
from tasks.alerts import alert_qa_team
from tasks.notify import put_back_undelivered, send_emails


class SendRun(BaseModel):
    """What the run did."""

    put_back: int
    resent_to_corrected: int
    emails_sent: int
    still_queued: int


@flow(
    name="send-emails",
    flow_run_name=dated_run_name("send"),
    log_prints=False,
    on_failure=[alert_qa_team],
    on_crashed=[alert_qa_team],
)
def send_emails_now(config: str | None = None, retry_failed: bool = False) -> SendRun:
    """Send every queued email; with ``retry_failed``, the given-up and partly sent ones go again first.

    Args:
        config: the configuration file on the worker (default: QALOOP_CONFIG, else qaloop.yaml)
        retry_failed: send the emails given up on, or partly sent, again first
    """
    settings = load_settings(config)
    retried = put_back_undelivered(settings) if retry_failed else None
    sent = send_emails(settings)
    return SendRun(
        put_back=retried.requeued if retried else 0,
        resent_to_corrected=retried.resent if retried else 0,
        emails_sent=sent.sent_by_run,
        still_queued=sent.still_queued,
    )
