"""partly sent messages

A message the mail server accepted for some of its recipients and refused for others is ``partly_sent``,
its ``last_error`` naming each refused address with the server's reply, rather than recorded as sent.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:10:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _statuses(*statuses: str) -> None:
    listed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.drop_constraint(op.f("ck_email_outbox_status_allowed"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_outbox_status_allowed"), f"status IN ({listed})")


def upgrade() -> None:
    _statuses("queued", "sent", "partly_sent", "failed")


def downgrade() -> None:
    op.execute("UPDATE email_outbox SET status = 'sent' WHERE status = 'partly_sent'")
    _statuses("queued", "sent", "failed")
