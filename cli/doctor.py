"""``qaloop doctor``: check the configuration, the store, the SMTP server and the Prefect API, in plain words."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from qaloop.core.settings import AnnexASource, ConfigError, Settings, SqlSource, load_settings
from qaloop.messaging.outbox import Mailer, MailServerUnreachable
from qaloop.messaging.undelivered import undelivered
from qaloop.sources.readers import SourceError, read_dataset
from qaloop.store.engine import current_revision, engine_from, head_revision


@dataclass(frozen=True)
class Finding:
    """One check's outcome: what was checked, whether it is fine, and what to do if not."""

    check: str
    ok: bool
    detail: str


def diagnose(config_path: Path | str | None) -> list[Finding]:
    """Every check's finding; later checks are skipped when the configuration itself is invalid."""
    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        return [Finding("configuration", False, str(error))]
    findings = [Finding("configuration", True, f"{settings.authority.name} ({settings.authority.service.value})")]
    findings.append(database := _database(settings))
    if database.ok:
        findings.append(_outbox(settings))
    findings.extend(_sources(settings))
    findings.append(_smtp(settings))
    findings.append(_prefect())
    return findings


def _database(settings: Settings) -> Finding:
    engine = engine_from(settings)
    where = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as error:
        return Finding("database", False, f"cannot connect to {where}: {str(error).splitlines()[0]}")
    if revision is None:
        return Finding("database", False, f"{where} is reachable but empty: run `qaloop init-db`")
    if revision != head_revision():
        return Finding(
            "database",
            False,
            f"{where} is at migration {revision}, this qaloop needs {head_revision()}: run `qaloop init-db`",
        )
    return Finding("database", True, f"{where} at migration {revision}")


def _outbox(settings: Settings) -> Finding:
    """Messages that did not reach everyone (given up after refusals, or partly sent and not sent again)."""
    with engine_from(settings).connect() as connection:
        missing = undelivered(connection)
    if not missing:
        return Finding("outbox", True, "every message sent reached all its recipients (or is still queued)")
    failed = sum(message.status == "failed" for message in missing)
    return Finding(
        "outbox",
        False,
        f"{failed} message(s) given up after the server refused them, {len(missing) - failed} that reached only "
        "some recipients: correct the addresses in the staff list, then `qaloop send --retry-failed`",
    )


def _sources(settings: Settings) -> list[Finding]:
    """Each source read as `qaloop load` reads it: a file that is missing or unreadable, or lacks a column the
    mapping needs, is named with the reason (an Annex A workbook is only looked for: reading it needs the
    staff list)."""
    findings = []
    for dataset, source in settings.sources.items():
        where = "SQL query" if isinstance(source, SqlSource) else str(source.path)
        if isinstance(source, AnnexASource):
            exists = source.path.exists()
            findings.append(Finding(f"source {dataset.value}", exists, where if exists else f"{where} does not exist"))
            continue
        try:
            rows = len(read_dataset(settings, dataset))
        except SourceError as error:
            findings.append(Finding(f"source {dataset.value}", False, str(error)))
        else:
            findings.append(Finding(f"source {dataset.value}", True, f"{where}: {rows:,} rows, every column found"))
    return findings


def _smtp(settings: Settings) -> Finding:
    """Connect and log in exactly as the sender does (its own session class), and send nothing."""
    email = settings.email
    where = f"{email.smtp_host}:{email.smtp_port}"
    try:
        with Mailer(email):
            pass
    except MailServerUnreachable as error:
        return Finding("smtp", False, str(error))
    login = f", logged in as {email.username}" if email.username else ", no login"
    return Finding("smtp", True, f"{where} answered{login}{', STARTTLS' if email.starttls else ''}")


def _prefect() -> Finding:
    # Asked over HTTP rather than through Prefect's client: qaloop/ stays free of Prefect imports.
    url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not url:
        return Finding("prefect", True, "no PREFECT_API_URL: flows run in Prefect's local mode (a temporary server)")
    request = urllib.request.Request(f"{url}/health")
    if api_key := os.environ.get("PREFECT_API_KEY"):
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            healthy = response.status == 200
    except (OSError, ValueError) as error:
        return Finding("prefect", False, f"cannot reach the Prefect API at {url}: {error}")
    if not healthy:
        return Finding("prefect", False, f"the Prefect API at {url} is not healthy")
    return Finding("prefect", True, f"Prefect API at {url} answered")
