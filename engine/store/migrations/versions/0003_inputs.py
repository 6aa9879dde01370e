"""an integration's own cases, newest first, through an index

Revision ID: 0003_inputs
Revises: 0003_deploy_source
Create Date: 2026-11-30

An integration lists and searches only the cases it started (DOMAIN §8): `created_by = ?` ordered
by `created_at`. Without an index every such list read every case.
"""

from alembic import op

revision = "0003_inputs"
down_revision = "0003_deploy_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_created_by", "cases", ["created_by", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_created_by", table_name="cases")
