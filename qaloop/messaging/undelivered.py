"""Messages that did not reach everyone they were for, listed and put back.

A message is undelivered when the mail server refused it so often that it was given up (``failed``), or
accepted it for some recipients and refused the rest (``partly_sent``) and it has not yet gone again to those.
``undelivered`` lists them for the QA team's daily summary, ``qaloop doctor`` and the sending run's artifact,
by the subject (which names cases by reference) and by staff id, never by address. ``retry_undelivered``
(``qaloop send --retry-failed``, or the send-emails deployment from the UI) puts them back: a failed message
returns to the queue, addressed to its refused recipients' current addresses; a partly sent one goes again, as
a copy of its own, to those refused recipients whose address has been corrected since (in the staff list), and
to them alone. A refused recipient still at the refused address is named, to be corrected first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from qaloop.messaging.outbox import Message, enqueue
from qaloop.store.models import EmailOutbox, Staff

UNDELIVERED = ("failed", "partly_sent")


@dataclass(frozen=True)
class Undelivered:
    """One message that did not reach everyone: whom it did not reach and why, by staff id."""

    outbox_id: int
    kind: str
    status: str  # failed or partly_sent
    subject: str
    refused: tuple[str, ...]  # e.g. "staff S0042: 550 5.1.1 mailbox unavailable"
    error: str | None  # the server's refusal of the whole message, when it was not of recipients


@dataclass
class Retried:
    """What ``retry_undelivered`` put back."""

    requeued: int = 0  # failed messages back in the queue
    resent: int = 0  # partly sent messages going again, to their corrected addresses only
    uncorrected: list[str] = field(default_factory=list)  # "staff S0042 (message 17)": still the refused address


def _undelivered_rows(connection: Connection) -> list[Any]:
    return connection.execute(
        select(EmailOutbox)
        .where(EmailOutbox.status.in_(UNDELIVERED), EmailOutbox.resent_as.is_(None))
        .order_by(EmailOutbox.id)
    ).all()


def undelivered(connection: Connection) -> list[Undelivered]:
    """Every message given up or partly sent and not yet sent again, oldest first."""
    listed = []
    for row in _undelivered_rows(connection):
        refused = tuple(_who(entry) for entry in row.refused or [])
        listed.append(
            Undelivered(row.id, row.kind, row.status, row.subject, refused, None if refused else _scrubbed(row))
        )
    return listed


def _who(entry: dict[str, str | None]) -> str:
    """A refused recipient by staff id, with the server's reply (the address taken out of it)."""
    reply = (entry["reply"] or "").replace(entry["address"] or "", "(the address)")
    person = f"staff {entry['staff_ref']}" if entry.get("staff_ref") else "an address of no one in the staff list"
    return f"{person}: {reply}"


def _scrubbed(row: Any) -> str | None:
    """The server's words on a whole message, without the recipients' addresses."""
    error = row.last_error
    for address in [*row.recipients, *row.cc]:
        error = error.replace(address, "(an address)") if error else error
    return error


def retry_undelivered(engine: Engine) -> Retried:
    """Put every undelivered message back (see the module's docstring), in one transaction."""
    retried = Retried()
    with engine.begin() as connection:
        rows = _undelivered_rows(connection)
        wanted = {entry["staff_ref"] for row in rows for entry in row.refused or [] if entry.get("staff_ref")}
        current = dict(
            connection.execute(select(Staff.staff_ref, Staff.email).where(Staff.staff_ref.in_(wanted))).all()
        )
        for row in rows:
            corrected = {}
            for entry in row.refused or []:
                now = current.get(entry.get("staff_ref"))
                if now and now != entry["address"]:
                    corrected[entry["address"]] = now
                else:
                    who = f"staff {entry['staff_ref']}" if entry.get("staff_ref") else "an unknown address"
                    retried.uncorrected.append(f"{who} (message {row.id})")
            if row.status == "failed":
                connection.execute(
                    update(EmailOutbox)
                    .where(EmailOutbox.id == row.id)
                    .values(
                        status="queued",
                        attempts=0,
                        recipients=[corrected.get(a, a) for a in row.recipients],
                        cc=[corrected.get(a, a) for a in row.cc],
                        claimed_by=None,
                        claimed_until=None,
                    )
                )
                retried.requeued += 1
            elif corrected:
                _resend(connection, row, sorted(corrected.values()))
                retried.resent += 1
    return retried


def _resend(connection: Connection, row: Any, addresses: list[str]) -> None:
    """Queue a copy of ``row`` to ``addresses`` alone (keyed by them, so a second retry queues nothing more), and
    link the two. The copy is of a message already composed, not a new one."""
    suffix = hashlib.sha256(",".join(addresses).encode()).hexdigest()[:12]
    copy = Message(
        key=f"{row.key}/resent/{suffix}",
        kind=row.kind,
        to=tuple(addresses),
        subject=row.subject,
        html=row.html,
        text=row.text_body,
        attachments=tuple(row.attachments),
    )
    enqueue(connection, [copy])
    copy_id = connection.scalar(select(EmailOutbox.id).where(EmailOutbox.key == copy.key))
    connection.execute(update(EmailOutbox).where(EmailOutbox.id == row.id).values(resent_as=copy_id))
