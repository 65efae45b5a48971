"""A scripted mail relay (aiosmtpd with a handler the test controls): a `421 try again later` or a dropped
session is waited out and the sender connects again, delivering every message once; once the waits are used up
the batch stops naming the relay, at no cost to the message's attempts, and the next run delivers it; a `450`
for a recipient never wears the message out; a `550` does (see test_outbox)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller

from qaloop.core.settings import Settings
from qaloop.messaging.outbox import MAX_ATTEMPTS, MailServerBusy, enqueue, send_queued
from qaloop.store.engine import engine_from, upgrade
from tests.messaging.test_outbox import message, outbox


class Relay:
    """Answers 421 to the first ``busy`` transactions, 450 to recipients starting "later", else accepts; with
    ``drop_after``, hangs up without a word on the transaction after that many messages, once."""

    def __init__(self, busy: int, drop_after: int | None = None) -> None:
        self.busy = busy
        self.drop_after = drop_after
        self.messages: list[EmailMessage] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.busy:
            self.busy -= 1
            return "421 4.3.2 Service not available, try again later"
        if self.drop_after is not None and len(self.messages) == self.drop_after:
            self.drop_after = None
            server.transport.close()
            return "250 OK"  # never heard: the line is down
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("later"):
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=default))
        return "250 Message accepted for delivery"


@pytest.fixture
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[Relay, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Relay(**getattr(request, "param", {"busy": 0}))
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def relayed(settings: Settings, port: int, reconnect_after: list[float] | None = None) -> Settings:
    upgrade(engine_from(settings))
    email = settings.email.model_copy(
        update={"smtp_port": port, "messages_per_minute": 6000, "reconnect_after_seconds": reconnect_after or []}
    )
    return settings.model_copy(update={"email": email})


@pytest.mark.parametrize("relay", [{"busy": 3}], indirect=True)
def test_a_relay_that_says_try_again_later_is_waited_out_and_every_message_delivered_once(
    store_settings: Settings, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    settings = relayed(store_settings, port, reconnect_after=[1, 2, 3])
    engine = engine_from(settings)
    enqueue(engine, [message(n) for n in range(3)])
    waited: list[float] = []
    summary = send_queued(engine, settings.email, sleep=waited.append)
    assert (summary.sent, summary.refused, summary.still_queued) == (3, 0, 0)
    assert [w for w in waited if w >= 1] == [1, 2, 3]  # each wait once, then connected again
    assert len(handler.messages) == 3 and {row.attempts for row in outbox(settings)} == {0}


@pytest.mark.parametrize("relay", [{"busy": 0, "drop_after": 2}], indirect=True)
def test_a_relay_that_drops_the_session_mid_batch_is_connected_again_and_the_rest_delivered(
    store_settings: Settings, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    settings = relayed(store_settings, port, reconnect_after=[0])
    engine = engine_from(settings)
    enqueue(engine, [message(n) for n in range(5)])
    assert send_queued(engine, settings.email).sent == 5
    ids = [m["Message-ID"] for m in handler.messages]
    assert len(ids) == 5 and len(set(ids)) == 5  # the one cut off was not yet accepted: sent once, after
    assert {row.status for row in outbox(settings)} == {"sent"}


@pytest.mark.parametrize("relay", [{"busy": 4}], indirect=True)
def test_a_relay_still_busy_after_the_waits_stops_the_batch_and_the_next_run_delivers(
    store_settings: Settings, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    settings = relayed(store_settings, port, reconnect_after=[0])
    engine = engine_from(settings)
    enqueue(engine, [message(n) for n in range(3)])
    for _ in range(2):
        with pytest.raises(MailServerBusy, match=rf"the mail server at 127\.0\.0\.1:{port} asks to try again later"):
            send_queued(engine, settings.email)
        first = outbox(settings)[0]
        assert (first.status, first.attempts, first.claimed_by) == ("queued", 0, None)
        assert "421" in (first.last_error or "")
    assert send_queued(engine, settings.email).sent == 3
    assert len(handler.messages) == 3 and {row.status for row in outbox(settings)} == {"sent"}


def test_a_recipient_busy_for_now_never_wears_its_message_out(
    store_settings: Settings, relay: tuple[Relay, int]
) -> None:
    _, port = relay
    settings = relayed(store_settings, port)
    engine = engine_from(settings)
    enqueue(engine, [message(1, to="later.auditor1@qaloop-demo.example")])
    for _ in range(MAX_ATTEMPTS + 1):
        assert send_queued(engine, settings.email).refused == 1
    [row] = outbox(settings)
    assert (row.status, row.attempts) == ("queued", 0) and "450 4.2.1" in (row.last_error or "")
