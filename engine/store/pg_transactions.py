"""PostgreSQL write transactions begun and ended by the service, so that `BEGIN` and `COMMIT`
travel with an act's own statements instead of each costing a round trip of its own.

psycopg, left to itself, sends `BEGIN` before the first statement of a transaction and waits for
the answer (in pipeline mode too: it syncs after it), and `COMMIT` on its own at the end. A
completion needs two round trips of its own (the locked read, the writes), so those two doubled
it. Here the write engine's connections are in autocommit mode at the driver, and the service
opens the transaction itself:

- a batch of statements sent together (`prepared.execute_all` / `fetch_all`) starts with `BEGIN`
  in the same pipeline when no transaction is open yet;
- any other statement on a write connection (the ORM's, SQLAlchemy Core's) is preceded by `BEGIN`
  sent on the spot (`begin_before_first_statement`): one round trip, as psycopg's own was;
- an act's last batch of writes ends with `COMMIT` in the same pipeline when nothing else is left
  to write and every case row it updates is held under this transaction's row lock (so the
  revision check of the case UPDATE cannot fail after the fact; see `commit_may_ride`). The
  session's commit then finds the transaction closed and psycopg sends nothing.

A statement that fails in a pipeline makes the server skip the rest of it, `COMMIT` included, so
a failed act still commits nothing; the session's rollback then ends the aborted transaction.
Reads (`Database.read_engine`, the execution option `READS_ONLY`) never open a transaction, as
before: under READ COMMITTED each statement sees the newest committed data either way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

# libpq's own values (libpq-fe.h) of what psycopg's `pgconn` reports, as `psycopg.pq`'s
# TransactionStatus.IDLE and PipelineStatus.OFF: importing psycopg here would load it (86 modules)
# into every SQLite process too, and each garbage collection would walk them.
PQTRANS_IDLE = 0
PQ_PIPELINE_OFF = 0
# Execution option of the read engine: its statements run without a transaction.
READS_ONLY = "reads_only"
# `Session.info` key: {case id: revision under the lock} of the case rows this transaction holds
# with `SELECT ... FOR UPDATE`.
_LOCKED_CASES = "locked_case_ids"


def begin_before_first_statement(engine: Engine) -> None:
    """Send `BEGIN` before the first statement of a write connection that has no transaction open,
    wherever the statement comes from (the pipelined batches queue their own `BEGIN` first)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _begin(connection: Connection, *_statement: Any) -> None:
        if needs_begin(connection):
            connection.connection.driver_connection.execute(b"BEGIN")  # type: ignore[union-attr]


def needs_begin(connection: Connection) -> bool:
    """Whether a statement about to go out on `connection` must be preceded by `BEGIN`: a write
    connection to PostgreSQL, no transaction open, and not in the middle of a pipeline."""
    if connection.dialect.name != "postgresql" or connection.get_execution_options().get(READS_ONLY):
        return False
    pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    return pgconn.transaction_status == PQTRANS_IDLE and pgconn.pipeline_status == PQ_PIPELINE_OFF


def hold_case_lock(session: Session, case_id: str, revision: int) -> None:
    """Note that this transaction holds the row lock of case `case_id` (`SELECT ... FOR UPDATE`),
    whose row then had `revision`."""
    session.info.setdefault(_LOCKED_CASES, {})[case_id] = revision


def case_revision_moved(session: Session, case_id: str, revision: int) -> None:
    """This transaction wrote case `case_id` with `revision`: what its locked row now has."""
    locked = session.info.get(_LOCKED_CASES)
    if locked is not None and case_id in locked:
        locked[case_id] = revision


def forget_case_locks(session: Session) -> None:
    """The transaction ended: its row locks went with it."""
    session.info.pop(_LOCKED_CASES, None)


def commit_may_ride(
    session: Session, case_updates: list[dict[str, Any]], nothing_else_to_write: bool
) -> bool:
    """Whether the act's last batch of writes may end with `COMMIT`.

    On PostgreSQL, when the session is committing its outermost transaction (releasing a
    savepoint runs the same hooks, and the act may still fail after it), the ORM's flush has
    nothing left to write after the batch, and each case UPDATE in it (`where_id`,
    `where_revision`) is of a row this transaction holds locked, expecting the revision the row
    has under the lock: the compare-and-swap is then sure to match, so nothing can need undoing
    once the batch has committed. A case loaded before its lock was taken, or never locked, keeps
    the `COMMIT` apart, after the check.
    """
    if (
        not nothing_else_to_write
        or session.in_nested_transaction()
        or session.get_bind().dialect.name != "postgresql"
    ):
        return False
    locked = session.info.get(_LOCKED_CASES, {})
    return all(locked.get(update["where_id"]) == update["where_revision"] for update in case_updates)


def check_nothing_after_commit(session: Session) -> None:
    """After the act's `COMMIT` rode with its writes: raise if anything went out since (the flush
    that follows must have found nothing to write; a statement now would open a transaction of its
    own, no longer atomic with the act). A guard against a change to what `commit_may_ride`
    assumes, not a path any act takes."""
    pgconn = session.connection().connection.driver_connection.pgconn  # type: ignore[union-attr]
    if pgconn.transaction_status != PQTRANS_IDLE:
        raise RuntimeError("a statement was sent after the act's COMMIT; the act was committed without it")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    forget_case_locks(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous_transaction: Any) -> None:
    forget_case_locks(session)
