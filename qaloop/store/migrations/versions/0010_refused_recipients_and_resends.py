"""refused recipients and resends

Each recipient a mail server refused is kept with the message (``refused``: the address, the staff id it
belonged to when refused, the server's reply), so that once the address is corrected the message can go again
to them alone; ``resent_as`` links a partly sent message to the copy sent to its corrected addresses.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.add_column(sa.Column("refused", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "resent_as",
                sa.Integer(),
                sa.ForeignKey("email_outbox.id", name="fk_email_outbox_resent_as_email_outbox"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.drop_constraint("fk_email_outbox_resent_as_email_outbox", type_="foreignkey")
        batch_op.drop_column("resent_as")
        batch_op.drop_column("refused")
