"""workbench sign-in sessions

Revision ID: 0003_sessions
Revises: 0002
Create Date: 2026-11-30

The workbench's browser sessions live in the database, so every API node sees a sign-out at
once. A row holds the sha256 of the session id, never the id itself.
"""

import sqlalchemy as sa
from alembic import op

from engine.store.types import UTCDateTime

revision = "0003_sessions"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_web_session_last_seen", ["last_seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_web_session_last_seen")
    op.drop_table("web_sessions")
