"""Every email qaloop sends is built here: ``compose`` renders a template pair from ``report_templates/email``
(``<template>.html`` and ``<template>.txt``) and derives the message's outbox key from its parts, so that the
key, the thing that stops a message going twice, is made one way everywhere.

A key is the authority's code followed by the parts that make the message unique (for example the cycle,
the kind, the case and the auditor): the same parts on a later run give the same key, and the outbox then
queues nothing new. Builders of particular messages (allocation notices, reminders, alerts, ...) live with
their domain and call ``compose``; none constructs a ``Message`` itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from qaloop.core.settings import Settings
from qaloop.core.templates import TEMPLATES
from qaloop.messaging.outbox import Message


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "email"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """The HTML and plain-text bodies of ``template`` (``<template>.html`` and ``<template>.txt``)."""
    environment = _environment()
    html = environment.get_template(f"{template}.html").render(context)
    return html, environment.get_template(f"{template}.txt").render(context)


# Mail clients show little more; a longer subject is data that got into one by mistake.
SUBJECT_LIMIT = 250


def header_text(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """``text`` fit for an email header: control and format characters (a line break that would start a header
    of its own, a right-to-left override) become spaces, runs of space one, and it is cut to ``limit``."""
    shown = "".join(" " if unicodedata.category(character).startswith("C") else character for character in text)
    return " ".join(shown.split())[:limit]


def outbox_key(settings: Settings, parts: Sequence[object]) -> str:
    """The outbox key of a message of this authority made unique by ``parts``."""
    return "/".join([settings.authority.code, *(str(part) for part in parts)])


def compose(
    settings: Settings,
    template: str,
    *,
    key: Sequence[object],
    to: Iterable[str],
    subject: str,
    context: dict[str, Any],
    cc: Iterable[str] = (),
    attachments: Iterable[Path] = (),
    kind: str | None = None,
) -> Message:
    """A message rendered from ``template`` with ``context`` (plus the authority's name, the sender's name and
    the subject), keyed by ``key``'s parts; its kind is the template's name unless given. The subject is made
    fit for a header whatever the data put in it (see ``header_text``)."""
    subject = header_text(subject)
    common = {"authority": settings.authority.name, "from_name": settings.email.from_name, "subject": subject}
    html, text = render(template, common | context)
    return Message(
        key=outbox_key(settings, key),
        kind=kind or template,
        to=tuple(to),
        cc=tuple(cc),
        subject=subject,
        html=html,
        text=text,
        attachments=tuple(attachments),
    )
