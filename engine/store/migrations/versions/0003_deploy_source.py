"""process versions record where they came from: the shipped folder at start-up, or an owner

Revision ID: 0003_deploy_source
Revises: 0003_sessions
Create Date: 2026-11-30

Starting the service deploys the shipped `processes/` and `forms/` only where nobody deployed a
process otherwise since; to know that, each version records its source: `shipped` (deployed by
the service itself from its folders at start-up) or `owner` (an upload or the `deploy` command).
Versions deployed before this revision by the `system` user came from the folders at start-up.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_deploy_source"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), nullable=False, server_default="owner"))
    op.execute("UPDATE process_definitions SET source = 'shipped' WHERE deployed_by = 'system'")


def downgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_column("source")
