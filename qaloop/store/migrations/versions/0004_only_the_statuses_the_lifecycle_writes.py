"""only the statuses the lifecycle writes

A cycle is no longer "planned" (it is recorded when drawn); an allocation is never "declined" or "cancelled"
and a moderation never "cancelled" (nothing wrote them: a case that cannot be audited is replaced from its
stratum's reserves, with its reason). The CHECK constraints list what ``qaloop.store.lifecycle`` writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:20:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BEFORE = {
    "audit_cycle": ("planned", "selected", "allocated", "notified", "moderation", "closed"),
    "allocation": ("reserve", "selected", "allocated", "notified", "submitted", "moderation", "moderated", "closed",
                   "declined", "replaced", "cancelled"),
    "moderation": ("sampled", "allocated", "notified", "submitted", "cancelled"),
}  # fmt: skip
DROPPED = {"planned", "declined", "cancelled"}


def _statuses(table: str, statuses: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_status_allowed"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_status_allowed"), f"status IN ({listed})")


def upgrade() -> None:
    for table, statuses in BEFORE.items():
        _statuses(table, tuple(status for status in statuses if status not in DROPPED))


def downgrade() -> None:
    for table, statuses in BEFORE.items():
        _statuses(table, statuses)
