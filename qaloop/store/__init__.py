"""The system of record: SQLAlchemy models and Alembic migrations, engines, the authority and cycle handles,
the joins shared by every reader, and the lifecycle, the one place a status changes."""
