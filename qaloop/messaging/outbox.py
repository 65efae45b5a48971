"""The email outbox: every message is written to the store under a deterministic key, then sent.

``enqueue`` writes messages once (a key already in the outbox is left alone, so a re-run queues nothing
new); ``send_queued`` sends what is queued through yagmail over one SMTP session, no faster than the
configured messages per minute, and records each message as sent the moment the server accepts it. A
message the server refuses stays queued with the error for the next run, up to ``MAX_ATTEMPTS``; a lost
connection stops the batch with an error (the caller retries) and leaves the rest queued.

A stop request (SIGTERM from a cancelled Prefect run or an operator, Ctrl-C) is held while a message is
between the server's acceptance and its record, and ends the batch before the next message: every
message is then recorded exactly as the server saw it and none is sent twice. Only a hard kill (SIGKILL,
power loss) in that instant can leave one accepted message unrecorded; it is sent again with the same
Message-ID, which mail servers such as Exchange use to drop the duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_string
from email.message import Message as MimeMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr
from pathlib import Path
from typing import Any

import yagmail
from sqlalchemy import Connection, Engine, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from qaloop.core.settings import Email
from qaloop.store.models import EmailOutbox, MailPace, Staff, utcnow

MAX_ATTEMPTS = 5
_CHUNK = 10_000


@dataclass(frozen=True)
class Message:
    """A rendered message: the key makes it unique across runs (for example ``cycle/auditor/CR123``)."""

    key: str
    kind: str
    to: tuple[str, ...]
    subject: str
    html: str
    text: str
    cc: tuple[str, ...] = ()
    attachments: tuple[Path, ...] = field(default=())


@dataclass(frozen=True)
class SendSummary:
    """What one sending run did."""

    sent: int
    refused: int
    still_queued: int
    stopped_by: str | None = None  # the signal that ended the batch early, e.g. "SIGTERM"
    partly_sent: int = 0  # accepted for some recipients and refused for others (counted in ``sent`` too)
    sent_by_run: int = 0  # what the run sent in all, over every call made for it (a retried task's attempts)
    daily_cap_reached: bool = False  # the relay's recipients in 24 hours used up: the rest waits
    cannot_be_built: int = 0  # given up at once, each for its own reason (a broken header, an attachment gone)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """Hold SIGTERM and SIGINT for the block, collecting them instead of letting them interrupt it.

    On leaving, the previous handlers come back. Signals can only be caught on the main thread; elsewhere
    the list stays empty and the process's own handling applies.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in _STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def enqueue(target: Engine | Connection, messages: Iterable[Message]) -> int:
    """Write ``messages`` to the outbox; those whose key is already there are skipped. Returns how many were new.

    Given a connection, the messages are written in its transaction: they are queued only if it commits.
    """
    rows = [
        {
            "key": m.key,
            "kind": m.kind,
            "recipients": list(m.to),
            "cc": list(m.cc),
            "subject": m.subject,
            "html": m.html,
            "text_body": m.text,
            "attachments": [str(path) for path in m.attachments],
            "status": "queued",
        }
        for m in messages
    ]
    if not rows:
        return 0
    insert = postgresql_insert if target.dialect.name == "postgresql" else sqlite_insert
    # Only the rows this call inserts come back, so a run queueing beside another counts its own.
    statement = insert(EmailOutbox).on_conflict_do_nothing(index_elements=["key"]).returning(EmailOutbox.key)
    with target.begin() if isinstance(target, Engine) else contextlib.nullcontext(target) as connection:
        return sum(
            len(connection.scalars(statement, rows[start : start + _CHUNK]).all())
            for start in range(0, len(rows), _CHUNK)
        )


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the message with ``key``: the same on every attempt, unique per key."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class MailServerUnreachable(OSError):
    """The mail server could not be reached or logged in to: the message names its host and port."""


class MailServerBusy(MailServerUnreachable):
    """The mail server refused for now (421: try again later) and closed the session."""


class Mailer:
    """One SMTP session through yagmail, for a batch of messages."""

    def __init__(self, settings: Email) -> None:
        self.settings = settings
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"
        password = settings.password.get_secret_value() if settings.password else None
        self._yag = yagmail.SMTP(
            user=settings.username or settings.from_address,
            password=password,
            host=settings.smtp_host,
            port=settings.smtp_port,
            smtp_ssl=settings.ssl,
            smtp_starttls=settings.starttls,
            smtp_skip_login=settings.username is None,
            soft_email_validation=False,
            timeout=60,  # for smtplib: a relay that stops answering is given up, not waited on for ever
        )
        # yagmail makes a username without "@" into a Gmail address; a relay's account is logged in as it is.
        self._yag.user = settings.username or settings.from_address

    def __enter__(self) -> Mailer:
        try:
            self._yag.login()
        except smtplib.SMTPAuthenticationError as error:
            raise MailServerUnreachable(
                f"the mail server at {self.where} refused the login for {self.settings.username} "
                f"(check QALOOP_EMAIL__PASSWORD): {error.smtp_code} {_said(error.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            raise MailServerUnreachable(f"the mail server at {self.where} cannot be reached: {error}") from None
        return self

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):  # the session is over either way
            self._yag.close()

    def reconnect(self) -> None:
        """A new session in place of one the server closed (or asked to close)."""
        self.__exit__()
        self.__enter__()

    def build(self, row: EmailOutbox) -> Prepared:
        """The message ``row`` holds, as it goes on the wire. Raises whatever stops it being built (a header a
        line break has split, an attachment gone): that is the message's own fault, never the server's."""
        settings = self.settings
        recipients, prepared = self._yag.prepare_send(
            to=list(row.recipients),
            cc=list(row.cc) or None,
            subject=row.subject,
            # raw: a body that happens to be a file path must not become an attachment
            contents=[yagmail.raw(row.html)],
            attachments=[str(path) for path in row.attachments] or None,
            prettify_html=False,  # premailer would try to download stylesheets
            message_id=message_id(row.key, settings.from_address.split("@")[1]),
        )
        mime = message_from_string(prepared)
        _replace_text_part(mime, row.text_body)
        _mark_attachments(mime)
        del mime["From"]
        mime["From"] = formataddr((settings.from_name, settings.from_address))
        if settings.reply_to:
            mime["Reply-To"] = settings.reply_to
        return Prepared(list(recipients), str(mime["Message-ID"]), mime.as_string(policy=SMTP_POLICY))

    def send(self, prepared: Prepared) -> dict[str, str]:
        """Send a built message; returns the recipients the server refused, each with its reply (none when every
        recipient was accepted). smtplib errors propagate (every recipient refused among them)."""
        refused = self._yag.smtp.sendmail(self.settings.from_address, prepared.recipients, prepared.wire)
        return {address: _reply(*answer) for address, answer in refused.items()}


@dataclass(frozen=True)
class Prepared:
    """A message ready for the wire: its envelope recipients, its Message-ID and its text."""

    recipients: list[str]
    message_id: str
    wire: str


def _replace_text_part(mime: MimeMessage, text: str) -> None:
    # yagmail's plain-text part is the HTML with line breaks; readers of plain text deserve the real one.
    for part in mime.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            del part["Content-Transfer-Encoding"]  # set_payload encodes afresh and writes its own
            part.set_payload(text, charset="utf-8")
            return


def _mark_attachments(mime: MimeMessage) -> None:
    # yagmail gives attached text files (an HTML report) no Content-Disposition, so mail clients would show
    # them as the body: every named part is an attachment.
    for part in mime.walk():
        name = part.get_param("name")
        if name and part.get("Content-Disposition") is None:
            part.add_header("Content-Disposition", "attachment", filename=part.get_filename() or str(name))


# How many messages a sender claims at a time: few, so that senders running at once share the queue.
CLAIM_BATCH = 10
_CLAIM_TRIES = 20
# The senders' turns are compared across processes (they share the store), so they are told on the epoch's
# scale; the clock is the steady one moved onto that scale when qaloop starts, so that neither a step of the
# wall clock nor a frozen one stalls sending.
_EPOCH_LESS_STEADY = time.time() - time.monotonic()


def _pace_clock() -> float:
    return time.monotonic() + _EPOCH_LESS_STEADY


def send_queued(
    engine: Engine,
    settings: Email,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = _pace_clock,
    run: str | None = None,
    only: Collection[str] | None = None,
) -> SendSummary:
    """Send every queued message, oldest first, and record each outcome as it happens.

    Messages are claimed a few at a time before they are sent (see ``claim``), so any number of senders at
    once (two `qaloop send`, two flows that end by sending) send each message once, and they take turns on the
    relay (see ``take_turns``), so together they keep to ``messages_per_minute``. Stops early, between
    messages, when ``should_stop()`` says so or a stop signal arrives (the summary's ``stopped_by`` names
    it; the caller decides whether to end the process), or when the next message would take the recipients of
    the last 24 hours over ``recipients_per_day``; what is left stays queued, its claim released.
    With ``only`` (outbox keys), just those messages are sent (an alert from a run that is stopping must not
    send the whole queue on its way out). Each message sent is marked with ``run`` (the Prefect flow run
    sending it; this sender when not given), and the summary's ``sent_by_run`` counts every message so marked,
    this call's and earlier ones'. Raises the connection error when the server cannot be reached or drops the
    session.
    """
    interval = 60.0 / settings.messages_per_minute
    reconnects = list(settings.reconnect_after_seconds)  # for the whole call, not each message
    me = _sender_id()
    run = run or me
    total = _queued_count(engine, only)
    sent = refused = done = partly = unbuildable = 0
    at_cap = False
    signals: list[int] = []
    if total:
        with _stop_requests() as signals, Mailer(settings) as mailer:
            try:
                tried: set[int] = set()  # a refused message stays claimed, for the next run to try again
                while not (should_stop() or signals or at_cap) and (
                    batch := [row for row in claim(engine, me, CLAIM_BATCH, interval, only) if row.id not in tried]
                ):
                    room = settings.recipients_per_day - recipients_in_the_last_day(engine)
                    first_turn = take_turns(engine, mailer.where, len(batch), interval, clock())
                    for turn, row in enumerate(batch):
                        tried.add(row.id)
                        if (needed := len(row.recipients) + len(row.cc)) > room:
                            at_cap = True
                            break
                        room -= needed
                        wait = first_turn + turn * interval - clock()
                        if wait > 0:
                            sleep(wait)
                        if should_stop() or signals:
                            break
                        outcome = _send_through_interruptions(engine, mailer, row, run, reconnects, sleep)
                        sent += outcome in ("sent", "partly_sent")
                        refused += outcome == "refused"
                        unbuildable += outcome == "cannot_be_built"
                        partly += outcome == "partly_sent"
                        done += 1
                        on_progress(done, max(total, done))
            finally:
                _release(engine, me)
    left = _queued_count(engine, only)
    stopped_by = signal.Signals(signals[0]).name if signals else None
    with engine.connect() as connection:
        by_run = connection.scalar(select(func.count()).where(EmailOutbox.sent_by == run)) or 0
    return SendSummary(
        sent=sent,
        refused=refused,
        still_queued=left,
        stopped_by=stopped_by,
        partly_sent=partly,
        sent_by_run=by_run,
        daily_cap_reached=at_cap,
        cannot_be_built=unbuildable,
    )


def recipients_in_the_last_day(engine: Engine) -> int:
    """How many recipients the messages sent in the last 24 hours had, by every sender (the relay's daily cap
    counts them all; senders at once may each send a batch's worth before they see the others')."""
    since = utcnow() - timedelta(days=1)
    with engine.connect() as connection:
        rows = connection.execute(
            select(EmailOutbox.recipients, EmailOutbox.cc).where(EmailOutbox.sent_at >= since)
        ).all()
    return sum(len(to) + len(cc or []) for to, cc in rows)


def take_turns(engine: Engine, relay: str, how_many: int, interval: float, now: float) -> float:
    """Take ``how_many`` turns to send through ``relay``, ``interval`` seconds apart and after every turn any
    sender has taken already; returns when the first of them is (seconds since the epoch, as ``now``).

    One row per relay holds when its next turn is free, moved on in one UPDATE, so any number of senders at once
    (on any machine sharing the store) together keep to the relay's rate.
    """
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    after_the_last = case((MailPace.next_slot > now, MailPace.next_slot), else_=now)
    with engine.begin() as connection:
        connection.execute(
            insert(MailPace).values(relay=relay, next_slot=now).on_conflict_do_nothing(index_elements=["relay"])
        )
        free_from = connection.scalar(
            update(MailPace)
            .where(MailPace.relay == relay)
            .values(next_slot=after_the_last + how_many * interval)
            .returning(MailPace.next_slot)
        )
    return float(free_from) - how_many * interval


def _send_through_interruptions(
    engine: Engine, mailer: Mailer, row: EmailOutbox, run: str, reconnects: list[float], sleep: Callable[[float], None]
) -> str:
    """Send ``row`` (see ``_send_one``); when the relay asks to try again later (421) or drops the session, wait
    the next of ``reconnects``, connect again and send it again, until they are used up (then the error is
    raised, naming the relay). A message cut off mid-transfer may have been accepted: sent again,
    it carries the same Message-ID, by which the receiving server drops the copy."""
    while True:
        try:
            return _send_one(engine, mailer, row, run)
        except (MailServerBusy, smtplib.SMTPServerDisconnected, ConnectionError) as error:
            if not reconnects:
                if isinstance(error, MailServerBusy):
                    raise
                raise MailServerUnreachable(f"the mail server at {mailer.where} dropped the session: {error}") from None
            sleep(reconnects.pop(0))
            mailer.reconnect()


def _send_one(engine: Engine, mailer: Mailer, row: EmailOutbox, run: str) -> str:
    """Send ``row`` and record what became of it: "sent", "partly_sent" (some recipients refused, each kept with
    the server's words), "refused" (kept queued for the next run, see ``_record_refusal``) or "cannot_be_built"
    (given up at once with the reason: building it again would fail the same way)."""
    try:
        prepared = mailer.build(row)
    except Exception as error:  # noqa: BLE001  # whatever it is, it is this message's alone: the queue goes on
        _record(engine, row.id, status="failed", last_error=f"the message cannot be built: {error}")
        return "cannot_be_built"
    try:
        refused = mailer.send(prepared)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
        temporary = all(400 <= code < 500 for code in _codes(error))
        replies = (
            {address: _reply(*answer) for address, answer in error.recipients.items()}
            if isinstance(error, smtplib.SMTPRecipientsRefused)
            else {}
        )
        _record_refusal(engine, row, _plain(error), counts=not temporary, refused=_whose(engine, replies))
        if 421 in _codes(error):  # the server is closing the session: stop, and let the next attempt resume
            raise MailServerBusy(
                f"the mail server at {mailer.where} asks to try again later: {_plain(error)}"
            ) from None
        return "refused"
    status = "partly_sent" if refused else "sent"
    why = "; ".join(f"{address} refused: {reply}" for address, reply in refused.items()) or None
    _record(
        engine,
        row.id,
        status=status,
        sent_at=utcnow(),
        message_id=prepared.message_id,
        last_error=why,
        refused=_whose(engine, refused) or None,
        sent_by=run,
    )
    return status


def _whose(engine: Engine, replies: dict[str, str]) -> list[dict[str, str | None]]:
    """Each refused address with the server's reply and the staff id it is the address of (so that the message
    can follow the person once their address is corrected, and be reported by staff id, not address)."""
    if not replies:
        return []
    with engine.connect() as connection:
        staff = dict(
            connection.execute(select(Staff.email, Staff.staff_ref).where(Staff.email.in_(list(replies)))).all()
        )
    return [{"address": address, "staff_ref": staff.get(address), "reply": reply} for address, reply in replies.items()]


def claim(
    engine: Engine, sender: str, how_many: int, interval: float, only: Collection[str] | None = None
) -> list[EmailOutbox]:
    """Claim for ``sender`` up to ``how_many`` of the oldest queued messages nobody holds, and return them.

    A claim lasts long enough to send the batch at the configured rate, with room to spare; a sender that dies
    leaves it to lapse, and the one message it may have had in flight goes again (as after a kill).
    """
    now = utcnow()
    _release_the_dead(engine, now)
    lease = timedelta(seconds=max(120.0, 4 * how_many * interval))

    def free(table: Any) -> Any:
        waiting = (table.status == "queued") & (table.claimed_until.is_(None) | (table.claimed_until < now))
        return waiting & table.key.in_(list(only)) if only is not None else waiting

    # The oldest free rows are chosen first, then claimed by an UPDATE that repeats the conditions. On
    # PostgreSQL the choice locks them (rows another sender is claiming this moment are skipped, not waited for
    # and then found taken); SQLite has one writer at a time, so a sender that chose rows another claimed first
    # finds them taken. Either way it asks again, so a sender never stops while mail waits.
    oldest = (
        select(EmailOutbox.id)
        .where(free(EmailOutbox))
        .order_by(EmailOutbox.id)
        .limit(how_many)
        .with_for_update(skip_locked=True)
    )
    for _ in range(_CLAIM_TRIES):
        with engine.begin() as connection:
            chosen = connection.scalars(oldest).all()
            if not chosen:
                break
            claimed = connection.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id.in_(chosen), free(EmailOutbox))
                .values(claimed_by=sender, claimed_until=now + lease)
                .execution_options(synchronize_session=False)
            ).rowcount
        if claimed:
            break
    with Session(engine) as session:
        return list(
            session.scalars(
                select(EmailOutbox)
                .where(EmailOutbox.claimed_by == sender, EmailOutbox.status == "queued")
                .order_by(EmailOutbox.id)
            ).all()
        )


def _sender_id() -> str:
    """This sender, as its claims name it: the machine, the process and a token of its own."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _release_the_dead(engine: Engine, now: datetime) -> None:
    """Release the live claims of senders on this machine whose process has ended (killed, say), so that a run
    started after them need not wait for the claims to lapse; another machine's wait for the lease."""
    with engine.connect() as connection:
        holders = connection.scalars(
            select(EmailOutbox.claimed_by).where(EmailOutbox.claimed_until >= now).distinct()
        ).all()
    host = socket.gethostname()
    for holder in holders:
        machine, _, rest = (holder or "").partition("/")
        pid = rest.partition("/")[0]
        if machine == host and pid.isdigit() and not _running(int(pid)):
            _release(engine, holder)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _release(engine: Engine, sender: str) -> None:
    """Give back what ``sender`` claimed and did not send (a stop, a dropped connection)."""
    with engine.begin() as connection:
        connection.execute(
            update(EmailOutbox).where(EmailOutbox.claimed_by == sender).values(claimed_by=None, claimed_until=None)
        )


def delivered(engine: Engine, key_prefix: str) -> int:
    """How many messages whose key starts with ``key_prefix`` (a cycle's, say) have been delivered, by any run
    (to every recipient or to some)."""
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).where(
                    EmailOutbox.key.startswith(key_prefix, autoescape=True),
                    EmailOutbox.status.in_(("sent", "partly_sent")),
                )
            )
            or 0
        )


def _queued_count(engine: Engine, only: Collection[str] | None = None) -> int:
    queued = EmailOutbox.status == "queued"
    if only is not None:
        queued &= EmailOutbox.key.in_(list(only))
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).where(queued)) or 0


def _record(engine: Engine, row_id: int, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(EmailOutbox).where(EmailOutbox.id == row_id).values(claimed_by=None, claimed_until=None, **values)
        )


def _codes(error: smtplib.SMTPException) -> list[int]:
    """The server's reply codes in a refusal (one per refused recipient, or the one of the transaction)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return [code for code, _ in error.recipients.values()]
    return [int(getattr(error, "smtp_code", 0) or 0)]


def _record_refusal(
    engine: Engine,
    row: EmailOutbox,
    error: str,
    counts: bool = True,
    refused: list[dict[str, str | None]] | None = None,
) -> None:
    """Keep a refused message queued with the server's words (and the recipients it refused); a permanent refusal
    (5xx) ``counts`` towards the attempts after which it is given up (``failed``), a temporary one (4xx: try
    again later) does not."""
    attempts = row.attempts + 1 if counts else row.attempts
    status = "failed" if attempts >= MAX_ATTEMPTS else "queued"
    with engine.begin() as connection:  # the claim stays until the run ends: this run does not try it again
        connection.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == row.id)
            .values(attempts=attempts, last_error=error, status=status, refused=refused or None)
        )


def _plain(error: smtplib.SMTPException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address} refused: {_reply(*answer)}" for address, answer in error.recipients.items())
    return str(error)


def _said(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _reply(code: int, reply: bytes | str) -> str:
    """A server's reply to one recipient, as words."""
    return f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
