"""due timers read through a partial index of live cases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

With thousands of timers due at once, the index on every case's `next_timer_at` left PostgreSQL
(before its statistics caught up) sorting every due row on each claim. The partial index holds
only running and failed cases, the ones a worker may fire, in due order.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE = "status IN ('running', 'error')"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_case_next_timer")
        batch_op.create_index(
            "ix_case_due_timer",
            ["next_timer_at"],
            unique=False,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_case_due_timer", sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
        batch_op.create_index("ix_case_next_timer", ["next_timer_at"], unique=False)
