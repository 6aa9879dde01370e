"""SQLAlchemy 2.0 models: the tables of the service.

The workflow state of a case is SpiffWorkflow's serialization (without the spec) in
`Case.state`; everything a query needs (inbox, filters, timers) is kept beside it in plain
columns and tables, updated in the same transaction as the state, so no query ever has to
deserialize a workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import JSONDoc, UTCDateTime

# Case statuses that hold a business key (a second case with the same key is refused) and whose
# timers may fire.
ACTIVE_STATUSES = ("running", "error")
# The same as SQL, for the partial indexes and the queries that use them: written out, not bound,
# because SQLite uses a partial index only for a query that repeats its condition literally.
LIVE_CASE = "status IN ({})".format(", ".join(f"'{status}'" for status in ACTIVE_STATUSES))


class Base(DeclarativeBase):
    pass


class ProcessDefinition(Base):
    """One deployed version of one process key, identified by the sha256 of its files."""

    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_definition_key_version"),
        Index("ix_definition_key_sha", "process_key", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(300))
    bpmn_file: Mapped[str] = mapped_column(String(300))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(100))
    # {filename: text} of every file this version depends on (BPMN, DMN, forms).
    files: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    # SpiffWorkflow's serialization of the process spec and the specs it calls.
    spec: Mapped[str] = mapped_column(Text)
    # Where the version came from: `shipped` (the service's own folders, deployed at start-up)
    # or `owner` (an upload or the `deploy` command). A restart never replaces an owner's version.
    source: Mapped[str] = mapped_column(String(20), default="owner", server_default="owner")


class Case(Base):
    """A running or finished complaint (a process instance)."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_case_active_business_key",
            "process_key",
            "business_key",
            unique=True,
            sqlite_where=text(LIVE_CASE),
            postgresql_where=text(LIVE_CASE),
        ),
        Index("ix_case_process_status", "process_key", "status"),
        Index("ix_case_customer_issue", "customer_id", "issue_code", "ended_at"),
        Index("ix_case_issue_created", "issue_code", "created_at"),
        # Workers' "what is due": only live cases, so the earliest due ones are read in index
        # order, however many are due and whatever the planner's statistics say.
        Index(
            "ix_case_due_timer",
            "next_timer_at",
            sqlite_where=text(LIVE_CASE),
            postgresql_where=text(LIVE_CASE),
        ),
        Index("ix_case_business_key", "business_key"),
        # An integration's own cases (it sees only those), newest first.
        Index("ix_case_created_by", "created_by", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    business_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(20), default="ordinary")
    customer_id: Mapped[str | None] = mapped_column(String(100))
    customer_tier: Mapped[str | None] = mapped_column(String(20))
    issue_code: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Compare-and-swap guard (see __mapper_args__).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    # [{"name", "due_at"}] of the pending timers, and the earliest of them, indexed for workers.
    timers: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    timer_failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # Set once a deadline of the case has passed (its escalations are in `escalations`).
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether any case_links row names this case: a case view reads its links only then.
    linked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # Every UPDATE checks and bumps `revision`; a stale writer gets StaleDataError, never a lost update.
    __mapper_args__ = {"version_id_col": revision}


class HumanTask(Base):
    """A user task as the inbox sees it: a projection of the workflow state."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        # The two halves of an inbox: unclaimed tasks of a group, and tasks held by a person.
        Index("ix_task_inbox", "candidate_group", "status", "assignee", "priority_rank", "due_at"),
        Index("ix_task_assignee", "assignee", "status", "priority_rank", "due_at"),
        Index("ix_task_case", "case_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_group: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    # 0 for urgent cases, 1 for ordinary: urgent work comes first in every inbox.
    priority_rank: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(100))
    form_file: Mapped[str | None] = mapped_column(String(300))
    ui_form_file: Mapped[str | None] = mapped_column(String(300))
    # Set on sign-off tasks: the level of the approval (`manager`, `general_manager`, ...).
    approval_level: Mapped[str | None] = mapped_column(String(50))
    # The person whose application an approval task decides (may not decide it).
    applicant: Mapped[str | None] = mapped_column(String(100))
    # The task's data when it became ready (what the form is prefilled with).
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    @property
    def is_approval(self) -> bool:
        return self.approval_level is not None


class CaseEvent(Base):
    """The append-only audit trail of a case."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_event_case", "case_id", "id"), Index("ix_event_type", "type", "at"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(50))
    task_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class Approval(Base):
    """One sign-off decision on a major-incident application."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approval_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[str | None] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(100))
    applicant: Mapped[str | None] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    remedy: Mapped[str | None] = mapped_column(String(30))
    requested_amount: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    approved_amount: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    level: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Escalation(Base):
    """A deadline that passed: which clock, when, and the task it created."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalation_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    clock: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class IdempotencyKey(Base):
    """An `Idempotency-Key` a caller used to start a case, and the case it started."""

    __tablename__ = "idempotency_keys"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Counter(Base):
    """Named counters, e.g. the daily sequence in generated business keys."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class WebSession(Base):
    """A signed-in browser session of the workbench (see `engine.sessions`).

    Only the sha256 of the session id is kept: a copy of this table lets nobody sign in.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_session_last_seen", "last_seen_at"),)

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Attachment(Base):
    """A file of evidence on a case (optionally on one of its tasks); the bytes are in the file
    store under `sha256`, written there before this row is committed."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachment_case", "case_id", "at"), Index("ix_attachment_sha", "sha256"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseLink(Base):
    """A case pointing at a related case: `repeat_of` the earlier complaint it repeats,
    `batch` another complaint of the same batch, ..."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "linked_case_id", "kind", name="uq_case_link"),
        Index("ix_case_link_linked", "linked_case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    linked_case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
