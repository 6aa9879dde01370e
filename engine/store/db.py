"""Database set-up and the unit of work.

One writer per case at a time is the rule every act relies on:
- SQLite: WAL (readers never block the writer), a busy timeout, and write transactions that
  start with `BEGIN IMMEDIATE`, so two writers queue instead of failing half-way;
- PostgreSQL: the acting transaction takes the case row with `SELECT … FOR UPDATE`
  (see `UnitOfWork.lock_case`); a second writer waits, then sees the new state. Reads
  (`unit_of_work(write=False)`) run in autocommit mode: they never write.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, and_, bindparam, create_engine, event, exc, func, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .models import Case, HumanTask
from .pg_transactions import READS_ONLY, begin_before_first_statement, hold_case_lock
from .prepared import Prepared, attach, fetch_all, loaded

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY = 7_301_2026
# A pooled PostgreSQL connection idle longer than this is checked before it is used.
PING_AFTER_IDLE_S = 5.0


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use only when it sat idle for a while.

    `pool_pre_ping` costs a round trip on every checkout, that is on every request, to guard
    against a connection the server dropped while it sat in the pool (a restart, an idle
    timeout). A connection used moments ago is alive; one idle for `PING_AFTER_IDLE_S` is
    pinged, and a dead one is replaced before the request sees it (the pool retries the
    checkout on `DisconnectionError`). A connection that dies in between fails its request
    once, and the pool then drops every connection as old as it.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"a pooled connection is gone: {error}") from error


class Database:
    """The engines and session factories for one database URL."""

    def __init__(self, url: str, pool_size: int = 10, echo: bool = False):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if self.url.database in (None, "", ":memory:"):
                raise ValueError("SQLite needs a file path; an in-memory database is per connection")
            self.write_engine = self._sqlite_engine(begin="BEGIN IMMEDIATE", echo=echo)
            # Reads run without a transaction, as on PostgreSQL: each statement reads one
            # consistent snapshot (WAL), and BEGIN and its ROLLBACK were two statements more.
            self.read_engine = self._sqlite_engine(begin=None, echo=echo)
        else:
            self.write_engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=30,
                json_serializer=_json_dumps,
                echo=echo,
                # The driver never opens a transaction itself: writes open theirs with their
                # first statement, in the same round trip (`pg_transactions`).
                isolation_level="AUTOCOMMIT",
            )
            _ping_after_idle(self.write_engine)
            begin_before_first_statement(self.write_engine)
            # Reads run without a transaction: under READ COMMITTED each statement sees the
            # newest committed data whether or not a transaction is open, so BEGIN and the
            # ROLLBACK that ends a read were two round trips that changed nothing. Same pool.
            self.read_engine = self.write_engine.execution_options(**{READS_ONLY: True})
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    def _sqlite_engine(self, begin: str | None, echo: bool) -> Engine:
        engine = create_engine(
            self.url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
            json_serializer=_json_dumps,
            echo=echo,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Take transaction control from the sqlite3 module so BEGIN is ours to emit.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        if begin is not None:

            @event.listens_for(engine, "begin")
            def _on_begin(connection):
                # On the driver's connection: through SQLAlchemy this one word cost 0.1 ms an act.
                connection.connection.driver_connection.execute(begin)

        return engine

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest Alembic revision (safe to run on every start)."""
        with self.write_engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def unit_of_work(self, write: bool = True) -> Iterator[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        factory = self._write_sessions if write else self._read_sessions
        session = factory()
        try:
            yield UnitOfWork(session, self)
            if write:
                session.commit()
            # A read ends with `close` alone: it wrote nothing, and closing returns the connection.
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for a read of plain rows (no ORM objects): what `unit_of_work(write=False)`
        gives without the session around it, for the reads made most (the inbox)."""
        with self.read_engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


# Built once: the statements of the act people do most (completing a task), read on the driver's
# connection (`Prepared`): the task, its case and the case's open tasks.
_TASK_COLUMNS = [column.label(f"task__{column.key}") for column in HumanTask.__table__.c]
_CASE_COLUMNS = [column.label(f"case__{column.key}") for column in Case.__table__.c]
_CASE_OF_TASK = select(HumanTask.case_id).where(HumanTask.id == bindparam("task_id")).scalar_subquery()
# A task and the open tasks of its case (which the act brings in line with the workflow).
_TASKS_WITH_CASE = Prepared(
    select(*_TASK_COLUMNS, *_CASE_COLUMNS)
    .join_from(HumanTask, Case, Case.id == HumanTask.case_id)
    .where(
        or_(
            HumanTask.id == bindparam("task_id"),
            and_(HumanTask.case_id == _CASE_OF_TASK, HumanTask.status == "open"),
        )
    )
)
_LOCK_CASE_OF_TASK = Prepared(select(*_CASE_COLUMNS).where(Case.id == _CASE_OF_TASK).with_for_update())
# Sent with the lock in one round trip: the server runs it once the lock is granted.
_TASKS_OF_LOCKED_CASE = Prepared(
    select(*_TASK_COLUMNS).where(
        or_(
            HumanTask.id == bindparam("task_id"),
            and_(HumanTask.case_id == _CASE_OF_TASK, HumanTask.status == "open"),
        )
    )
)


def _part(row: dict, prefix: str) -> dict:
    """The columns of one table out of a joined row (keys `task__id` → `id`)."""
    cut = len(prefix)
    return {key[cut:]: value for key, value in row.items() if key.startswith(prefix)}


class UnitOfWork:
    """A session plus the locking rule of the database it belongs to."""

    def __init__(self, session: Session, database: Database):
        self.session = session
        self.database = database

    def lock_task_case_and_open_tasks(self, task_id: str) -> tuple[HumanTask, Case, list[HumanTask]] | None:
        """A user task, its case and the case's open tasks, read for writing under the case's lock.

        One statement on SQLite (BEGIN IMMEDIATE already holds the write lock) and two on
        PostgreSQL, sent in one round trip (the case row locked, then the tasks read under the
        lock, so a completion that committed meanwhile is visible).
        """
        params = {"task_id": task_id}
        connection = self.session.connection()
        if self.database.is_sqlite:
            joined = _TASKS_WITH_CASE.rows(connection, params)
            if not joined:
                return None
            case_values = _part(joined[0], "case__")
            task_values = [_part(row, "task__") for row in joined]
        else:
            locked, tasks = fetch_all(
                connection, [(_LOCK_CASE_OF_TASK, params), (_TASKS_OF_LOCKED_CASE, params)]
            )
            if not locked:
                return None
            case_values = _part(locked[0], "case__")
            task_values = [_part(row, "task__") for row in tasks]
            hold_case_lock(self.session, case_values["id"], case_values["revision"])
        if not any(values["id"] == task_id for values in task_values):
            return None
        case = attach(self.session, loaded(Case, case_values))
        rows = [attach(self.session, loaded(HumanTask, values)) for values in task_values]
        row = next(r for r in rows if r.id == task_id)
        return row, case, [r for r in rows if r.status == "open"]

    def lock_case(self, case_id: str) -> Case | None:
        """Load a case for writing; on PostgreSQL wait for and hold its row lock."""
        query = select(Case).where(Case.id == case_id)
        if self.database.is_sqlite:
            return self.session.execute(query).scalar_one_or_none()
        # The revision as the locked row has it: `case` may be an instance loaded earlier.
        found = self.session.execute(query.add_columns(Case.revision).with_for_update()).one_or_none()
        if found is None:
            return None
        case, revision = found
        hold_case_lock(self.session, case.id, revision)
        return case
