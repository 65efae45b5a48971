"""Fixtures shared by every test: the demo settings redirected to a temporary folder, and the store.

The ``store_url`` fixture runs a test on SQLite and on PostgreSQL. PostgreSQL comes from
QALOOP_TEST_POSTGRES_URL (default: the local server, database ``test``); each test gets a fresh database.
Without the server the PostgreSQL half is skipped, unless QALOOP_REQUIRE_POSTGRES=1 (as in CI), when it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from checks.intake import take_in
from checks.returns import check_return_file
from qaloop.allocation.notices import notify_cycle
from qaloop.allocation.record import allocate_cycle
from qaloop.core.cycle_dates import cycle_dates
from qaloop.core.schema import EXTRACTS
from qaloop.core.settings import Settings, load_settings
from qaloop.demo.returns import moderations_on
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.moderation import record as moderation_record
from qaloop.programmes.cycle_record import draw_cycle
from qaloop.returns.filing import ingest_files
from qaloop.returns.follow_up import follow_up
from qaloop.returns.workbooks import complete_audit_workbook
from qaloop.store import models
from qaloop.store.engine import engine_for, engine_from, upgrade

PROJECT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT / "qaloop.yaml"
AS_OF = date(2026, 11, 22)  # the day the synthetic authorities are generated as of
NEXT_CYCLE = date(2026, 12, 14)
# Debian's Chromium, which `make test` installs: the report tests render in it, the UI tests drive it.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CYCLE = "2026-09"  # the cycle selected on NEXT_CYCLE
GRADES = ["Requires improvement", "Adequate", "Good", "Outstanding"]
POSTGRES_ADMIN_URL = os.environ.get("QALOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def settings_in(folder: Path, config: Path = DEMO_CONFIG, database_url: str | None = None) -> Settings:
    """The settings of ``config`` with the store, the output and every file source moved under ``folder``."""
    settings = load_settings(config)
    sources = {
        dataset: source.model_copy(update={"path": folder / "extracts" / source.path.name})
        if hasattr(source, "path")
        else source
        for dataset, source in settings.sources.items()
    }
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url or f"sqlite:///{folder / 'qaloop.db'}"),
            "output_dir": folder / "output",
            "sources": sources,
            "returns": settings.returns.model_copy(update={"folder": folder / "returns"}),
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The demo authority's settings, writing only under this test's temporary folder (SQLite store)."""
    return settings_in(tmp_path)


def _new_postgres_database(template: str | None = None) -> str:
    """The URL of a new, empty PostgreSQL database (a copy of ``template`` when given); skips the test when the
    server is not reachable, unless QALOOP_REQUIRE_POSTGRES=1 (as in CI), when it fails."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"qaloop_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    except OperationalError as error:
        reason = f"PostgreSQL not reachable at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: {error.orig}"
        if os.environ.get("QALOOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    """Drop a database made by ``_new_postgres_database`` (a SQLite file goes with its temporary folder)."""
    if not url.startswith("postgresql"):
        return
    engine_for(url).dispose()  # the store keeps one pooled engine per URL: close it before dropping
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = _new_postgres_database()
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def store_settings(tmp_path: Path, store_url: str) -> Settings:
    """The demo settings under a temporary folder, with the store on each database in turn."""
    return settings_in(tmp_path, database_url=store_url)


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives, and when it came
    (``time.monotonic()``)."""

    host: str
    port: int
    messages: list[EmailMessage]
    arrived: list[float] = field(default_factory=list)


class _Keep:
    """Keeps every message; refuses any recipient whose address starts with "refuse"."""

    def __init__(self, messages: list[EmailMessage], arrived: list[float]) -> None:
        self.messages = messages
        self.arrived = arrived

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's hook
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=default))
        self.arrived.append(time.monotonic())
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free local port, stopped after the test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SmtpSink("127.0.0.1", port, [])
    controller = Controller(_Keep(sink.messages, sink.arrived), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# Worlds that take seconds to make (the county's stages: loaded, drawn, notified, closed; a module's own) are
# built once per run and database, each from a copy of the one it follows, and every test gets its own copy: a
# SQLite file copied with the folder, a PostgreSQL database made from the stage's as a template. Paths recorded
# in a copy's store (the inputs of the draw, the workbooks attached to queued emails) still point into the
# stage's folder, which no test writes to.


@dataclass(frozen=True)
class Stage:
    """A world built once: ``build`` makes it in a folder and store, from a copy of ``after`` when given;
    ``configure`` is what its settings add to those of ``after``."""

    build: Callable[[Settings], None]
    after: str | None = None
    configure: Callable[[Settings], Settings] = lambda settings: settings


STAGES: dict[str, Stage] = {}


def stage(name: str, after: str | None = None, configure: Callable[[Settings], Settings] | None = None):  # type: ignore[no-untyped-def]
    """Register the decorated builder as the stage ``name`` (test modules add their own worlds so)."""

    def register(build: Callable[[Settings], None]) -> Callable[[Settings], None]:
        STAGES[name] = Stage(build, after, configure or (lambda settings: settings))
        return build

    return register


def stage_settings(base: Settings, name: str) -> Settings:
    """``base`` (a folder and a database) with what ``name`` and the stages it follows configure."""
    chain = [name]
    while STAGES[chain[-1]].after is not None:
        chain.append(STAGES[chain[-1]].after)
    for each in reversed(chain):
        base = STAGES[each].configure(base)
    return base


def _fifteen_per_area(settings: Settings) -> Settings:
    return settings.model_copy(update={"calendar": settings.calendar.model_copy(update={"audits_per_area": 15})})


def _with_workforce_development(settings: Settings) -> Settings:
    update = {"workforce_development": ["academy@example.org"]}
    return settings.model_copy(update={"follow_up": settings.follow_up.model_copy(update=update)})


def _with_pseudonym_key(settings: Settings) -> Settings:
    update = {"pseudonym_key": SecretStr("workshop-test-key")}
    return settings.model_copy(update={"reports": settings.reports.model_copy(update=update)})


@stage("county", configure=_fifteen_per_area)
def _build_county(settings: Settings) -> None:
    """A 4,000-case county with its history loaded into the store, auditing 15 cases per area.

    A 4,000-case county has about 130 workers: 15 audits per area a cycle suits it as 60 suits 25,000 cases.
    """
    write_extracts(generate(settings, as_of=AS_OF, seed=41, cases=4_000), settings)
    engine = engine_from(settings)
    upgrade(engine)
    take_in(settings, EXTRACTS, AS_OF)


@stage("drawn", after="county")
def _build_drawn(settings: Settings) -> None:
    """Cycle 2026-09 (selected 14 December 2026) drawn."""
    draw_cycle(engine_from(settings), settings, cycle_dates(settings.calendar, NEXT_CYCLE))


@stage("allocated", after="drawn")
def _build_allocated(settings: Settings) -> None:
    """Cycle 2026-09 allocated."""
    allocate_cycle(engine_from(settings), settings, CYCLE)


@stage("notified", after="allocated", configure=_with_workforce_development)
def _build_notified(settings: Settings) -> None:
    """Cycle 2026-09's emails queued (so its workbooks exist)."""
    notify_cycle(engine_from(settings), settings, CYCLE)


@stage("closed", after="notified", configure=_with_pseudonym_key)
def _build_closed(settings: Settings) -> None:
    """Cycle 2026-09 returned (two audits never, a few late, some questions answered "no", one learning point
    naming a member of staff and the case), moderated, with its agreement figures kept."""
    engine = engine_from(settings)
    with engine.connect() as connection:
        someone = connection.execute(select(models.Staff.name, models.Staff.staff_ref)).first()
    workbooks = sorted((settings.output_dir / "cycles" / CYCLE / "workbooks").glob("* audit tool.xlsx"))
    returned = []
    for i, sent in enumerate(workbooks[:-2]):
        case_ref = sent.name.split(" ")[0]
        returned.append(
            complete_audit_workbook(
                sent,
                settings.returns.inbox / sent.name,
                grade=GRADES[i % 4],
                completed_on=date(2027, 1, 8) if i % 6 else date(2027, 1, 20),
                answer="No" if i % 3 == 0 else "Yes",
                learning_points=f"Talk to {someone.name} ({someone.staff_ref}) about {case_ref}: record rationale."
                if i % 3 == 0
                else "Record the rationale for decisions more fully.",
            )
        )
    ingest_files(engine, settings, returned, date(2027, 1, 20), check_return_file, follow_up)
    moderation_record.draw_and_allocate(engine, settings, CYCLE)
    moderation_record.moderation_messages(engine, settings, CYCLE)
    forms = moderations_on(settings, CYCLE, date(2027, 1, 27))
    ingest_files(engine, settings, forms, date(2027, 1, 27), check_return_file, follow_up)
    moderation_record.record_agreement(engine, settings, CYCLE)


def _copy_stage(folder: Path, url: str, into: Path) -> str:
    """The stage's files and store copied into ``into`` (a SQLite file with the folder, a PostgreSQL database
    from the stage's as a template); returns the copy's database URL."""
    engine_for(url).dispose()  # no open connection: SQLite's WAL is checkpointed, PostgreSQL allows the template
    shutil.copytree(folder, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(STAGE_URL))
    if url.startswith("sqlite"):
        return f"sqlite:///{into / 'qaloop.db'}"
    return _new_postgres_database(template=make_url(url).database)


class Stages:
    """The stages, each built once per database for the whole run and handed out as copies.

    Under pytest-xdist the workers share the stages: the first to need one builds it under a file lock in the
    run's common temporary folder, the others wait and copy it. The run's end drops the PostgreSQL stages.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _stage(self, stage: str, database: str) -> tuple[Path, str]:
        folder = self.root / f"stage-{stage}-{database}"
        built = folder / STAGE_URL
        with open(self.root / f"stage-{stage}-{database}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not built.exists():
                folder.mkdir(exist_ok=True)
                after = STAGES[stage].after
                if after is None:
                    url = f"sqlite:///{folder / 'qaloop.db'}" if database == "sqlite" else _new_postgres_database()
                else:
                    url = _copy_stage(*self._stage(after, database), folder)
                STAGES[stage].build(stage_settings(settings_in(folder, database_url=url), stage))
                engine_for(url).dispose()
                built.write_text(url)
        return folder, built.read_text()

    def copy(self, stage: str, database: str, into: Path) -> Iterator[Settings]:
        """A copy of ``stage`` on ``database`` under ``into``: this test's own files and store, dropped after."""
        url = _copy_stage(*self._stage(stage, database), into)
        try:
            yield stage_settings(settings_in(into, database_url=url), stage)
        finally:
            _drop_database(url)


STAGE_URL = "stage-database-url.txt"


def _run_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary folder the whole run shares (the parent of each xdist worker's own)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    return Stages(_run_root(tmp_path_factory))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """At the end of the run (in the controller under xdist), drop the PostgreSQL stages."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    factory = session.config._tmp_path_factory  # type: ignore[attr-defined]  # pytest's own, set at configure
    for marker in factory.getbasetemp().glob(f"stage-*/{STAGE_URL}"):
        if marker.read_text().startswith("postgresql"):
            with contextlib.suppress(OperationalError):
                _drop_database(marker.read_text())


def database_of(store_url: str) -> str:
    """Which database a store URL is on, as the stages name it."""
    return "sqlite" if store_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def county(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A 4,000-case county with its history loaded into the store, auditing 15 cases per area."""
    yield from stages.copy("county", database_of(store_url), tmp_path)


@pytest.fixture
def drawn(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """The county with cycle 2026-09 (selected 14 December 2026) drawn."""
    yield from stages.copy("drawn", database_of(store_url), tmp_path)


@pytest.fixture
def allocated(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Cycle 2026-09 drawn and allocated, no email queued yet."""
    yield from stages.copy("allocated", database_of(store_url), tmp_path)


@pytest.fixture
def notified(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Cycle 2026-09 allocated and its emails queued (so its workbooks exist)."""
    yield from stages.copy("notified", database_of(store_url), tmp_path)


@pytest.fixture
def closed(stages: Stages, store_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Cycle 2026-09 returned (two audits never, a few late, some questions answered "no", one learning point
    naming a member of staff and the case), moderated, with its agreement figures kept."""
    yield from stages.copy("closed", database_of(store_url), tmp_path)


@pytest.fixture
def children(tmp_path: Path) -> Settings:
    """A children's services authority on Coventry's configuration (SQLite), its staff list and Annex A
    workbook written, the store migrated; it has no audit history, so its next cycle is its first."""
    settings = settings_in(tmp_path, config=PROJECT / "configs" / "coventry.yaml")
    first = settings.calendar.model_copy(update={"first_cycle": AS_OF})
    settings = settings.model_copy(update={"calendar": first})
    write_extracts(generate(settings, as_of=AS_OF, seed=5, cases=3_000), settings)
    upgrade(engine_from(settings))
    return settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The property tests first (before any Prefect server's background threads use the random module, which
    hypothesis would take for non-determinism in its strategies), then the longest, so that the workers finish
    together rather than one waiting on the last."""
    weight = {"prefect_server": 1, "slow": 2, "browser": 2}

    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("hypothesis"):
            return 0
        return min((weight[m.name] for m in item.iter_markers() if m.name in weight), default=3)

    items.sort(key=order)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for the whole session (starting one costs about 12 s)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    home = tmp_path_factory.mktemp("prefect-home")
    # No heartbeat: otherwise every flow run waits about a second for its thread at the end.
    with (
        temporary_settings({PREFECT_HOME: home, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=60),
    ):
        yield


def write_config(settings: Settings, folder: Path, smtp_port: int | None = None) -> Path:
    """A YAML config file for ``settings`` (as the flows read their configuration from a file)."""
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database_url"] = settings.database_url.get_secret_value()
    data["output_dir"] = str(settings.output_dir)
    data["returns"] = {"folder": str(settings.returns.folder)}
    data["calendar"]["audits_per_area"] = settings.calendar.audits_per_area
    for dataset, source in settings.sources.items():
        if dataset.value not in data["sources"]:  # a source the demo config lacks (the commissioned market's)
            data["sources"][dataset.value] = source.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            data["sources"][dataset.value]["kind"] = source.kind
        elif hasattr(source, "path"):
            data["sources"][dataset.value]["path"] = str(source.path)
    if settings.provider_quality is not None:
        data["provider_quality"] = settings.provider_quality.model_dump(mode="json", exclude_none=True)
    if settings.governance is not None:
        data["governance"] = settings.governance.model_dump(mode="json", exclude_none=True)
    if smtp_port is not None:
        data["email"]["smtp_port"] = smtp_port
        data["email"]["messages_per_minute"] = 60_000
    path = folder / "flow-config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
