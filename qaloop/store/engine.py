"""The store: one engine per database URL, sessions, and migrations run through Alembic.

SQLite (the default, nothing to install) and PostgreSQL (production and CI) behave the same: on SQLite
foreign keys are switched on for every connection, as PostgreSQL always enforces them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from qaloop.core.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


@cache
def engine_for(url: str) -> Engine:
    """The shared engine for ``url``; a SQLite file's folder is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the Prefect UI's readers and a running flow's writer work at the same time.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def engine_from(settings: Settings) -> Engine:
    """The engine for the configured store."""
    return engine_for(settings.database_url.get_secret_value())


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store up to ``revision`` (all the way by default)."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the store down to ``revision`` (an empty database by default)."""
    command.downgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None for a database qaloop has never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of qaloop ships."""
    head = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://"))).get_current_head()
    assert head is not None, "qaloop ships at least one migration"
    return head
