"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import engine.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "process_definitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("bpmn_file", sa.String(length=300), nullable=False),
        sa.Column("deployed_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deployed_by", sa.String(length=100), nullable=False),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_key", "version", name="uq_definition_key_version"),
    )
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.create_index("ix_definition_key_sha", ["process_key", "sha256"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("customer_tier", sa.String(length=20), nullable=True),
        sa.Column("issue_code", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "timers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("next_timer_at", engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timer_failures", sa.Integer(), nullable=False),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["process_definitions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_case_business_key", ["business_key"], unique=False)
        batch_op.create_index(
            "ix_case_customer_issue", ["customer_id", "issue_code", "ended_at"], unique=False
        )
        batch_op.create_index("ix_case_issue_created", ["issue_code", "created_at"], unique=False)
        batch_op.create_index("ix_case_next_timer", ["next_timer_at"], unique=False)
        batch_op.create_index("ix_case_process_status", ["process_key", "status"], unique=False)
        batch_op.create_index(
            "uq_case_active_business_key",
            ["process_key", "business_key"],
            unique=True,
            sqlite_where=sa.text("status IN ('running', 'error')"),
            postgresql_where=sa.text("status IN ('running', 'error')"),
        )

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("approver", sa.String(length=100), nullable=False),
        sa.Column("applicant", sa.String(length=100), nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("remedy", sa.String(length=30), nullable=True),
        sa.Column("requested_amount", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=True),
        sa.Column("approved_amount", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=True),
        sa.Column("level", sa.String(length=50), nullable=False),
        sa.Column("at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index("ix_approval_case", ["case_id", "at"], unique=False)

    op.create_table(
        "case_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index("ix_event_case", ["case_id", "id"], unique=False)
        batch_op.create_index("ix_event_type", ["type", "at"], unique=False)

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("clock", sa.String(length=50), nullable=False),
        sa.Column("at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index("ix_escalation_case", ["case_id", "at"], unique=False)

    op.create_table(
        "human_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("candidate_group", sa.String(length=100), nullable=True),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=100), nullable=True),
        sa.Column("form_file", sa.String(length=300), nullable=True),
        sa.Column("ui_form_file", sa.String(length=300), nullable=True),
        sa.Column("approval_level", sa.String(length=50), nullable=True),
        sa.Column("applicant", sa.String(length=100), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_assignee", ["assignee", "status", "priority_rank", "due_at"], unique=False
        )
        batch_op.create_index("ix_task_case", ["case_id", "status"], unique=False)
        batch_op.create_index(
            "ix_task_inbox",
            ["candidate_group", "status", "assignee", "priority_rank", "due_at"],
            unique=False,
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("username", "key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_task_inbox")
        batch_op.drop_index("ix_task_case")
        batch_op.drop_index("ix_task_assignee")

    op.drop_table("human_tasks")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalation_case")

    op.drop_table("escalations")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_event_type")
        batch_op.drop_index("ix_event_case")

    op.drop_table("case_events")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_case")

    op.drop_table("approvals")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_case_active_business_key",
            sqlite_where=sa.text("status IN ('running', 'error')"),
            postgresql_where=sa.text("status IN ('running', 'error')"),
        )
        batch_op.drop_index("ix_case_process_status")
        batch_op.drop_index("ix_case_next_timer")
        batch_op.drop_index("ix_case_issue_created")
        batch_op.drop_index("ix_case_customer_issue")
        batch_op.drop_index("ix_case_business_key")

    op.drop_table("cases")
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_index("ix_definition_key_sha")

    op.drop_table("process_definitions")
    op.drop_table("counters")
