"""A scripted mail relay (aiosmtpd with a handler the test controls): a `421 try again later` stops the batch,
names the relay and costs the message none of its attempts, and the next run delivers it; a `450` for a
recipient never wears the message out; a `550` does (see test_outbox)."""

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
    """Answers 421 to the first ``busy`` transactions, 450 to recipients starting "later", else accepts."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.messages: list[EmailMessage] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.busy:
            self.busy -= 1
            return "421 4.3.2 Service not available, try again later"
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
    handler = Relay(busy=getattr(request, "param", 0))
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def relayed(settings: Settings, port: int) -> Settings:
    upgrade(engine_from(settings))
    email = settings.email.model_copy(update={"smtp_port": port, "messages_per_minute": 6000})
    return settings.model_copy(update={"email": email})


@pytest.mark.parametrize("relay", [2], indirect=True)
def test_a_relay_that_says_try_again_later_stops_the_batch_and_the_next_run_delivers(
    store_settings: Settings, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    settings = relayed(store_settings, port)
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
