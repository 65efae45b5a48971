"""Alembic environment: runs migrations on the engine qaloop.store hands over (never reads a URL itself)."""

from alembic import context

from qaloop.store.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
