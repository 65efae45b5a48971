"""a rate limit shared by senders

Every sender on one mail relay takes its turns from one row per relay (``mail_pace.next_slot``: the earliest
moment, in seconds since the epoch, that the next message may go), so two senders at once together keep to
``messages_per_minute`` rather than each keeping to it alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 14:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_pace",
        sa.Column("relay", sa.String(length=255), primary_key=True),
        sa.Column("next_slot", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mail_pace")
