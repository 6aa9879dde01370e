"""evidence files and links between cases

Revision ID: 0003_evidence
Revises: 0003_inputs
Create Date: 2026-11-30

`attachments`: evidence files on a case (the bytes are in the content-addressed file store).
`case_links`: a case pointing at a related one (a repeat complaint at the case it repeats).
`cases.linked`: whether a case has links at all, so a case view reads them only when it does.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = "0003_evidence"
down_revision = "0003_inputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attachment_case", "attachments", ["case_id", "at"], unique=False)
    op.create_index("ix_attachment_sha", "attachments", ["sha256"], unique=False)
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("linked_case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["linked_case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "linked_case_id", "kind", name="uq_case_link"),
    )
    op.create_index("ix_case_link_linked", "case_links", ["linked_case_id"], unique=False)
    op.add_column("cases", sa.Column("linked", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("cases", "linked")
    op.drop_index("ix_case_link_linked", table_name="case_links")
    op.drop_table("case_links")
    op.drop_index("ix_attachment_sha", table_name="attachments")
    op.drop_index("ix_attachment_case", table_name="attachments")
    op.drop_table("attachments")
