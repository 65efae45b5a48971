"""outbox claims

A sender claims the queued messages it is about to send (``claimed_by``, ``claimed_until``), so that two
senders at once (two `qaloop send`, two flows that end by sending) never send the same message; a claim left
by a sender that died lapses at ``claimed_until`` and another sender takes the message.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
