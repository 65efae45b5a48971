"""the run that sent each message

``email_outbox.sent_by`` names the run that sent the message (a Prefect flow run, or a `qaloop send`
process), so that a run's summary counts what it sent itself, across its task's retries, and never what
another run sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.add_column(sa.Column("sent_by", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_email_outbox_sent_by"), ["sent_by"])


def downgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_sent_by"))
        batch_op.drop_column("sent_by")
