"""The write path's round of statements (issue 11): what an act sends to the database, and that
the shortcuts taken to keep it short (events written in bulk at commit, no count on a last page,
no ping of a connection used a moment ago) change nothing anyone can see.

Statements are counted with SQLAlchemy's `before_cursor_execute` on the real engine, through the
real API, on both databases.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine, event, select, text, update
from sqlalchemy.orm.exc import StaleDataError

from engine.projection import add_event
from engine.store import db as db_module
from engine.store.models import Case, CaseEvent

from .flows import register


class Statements:
    """The SQL statements the engine's database sends while the block runs."""

    def __init__(self, engine) -> None:
        # On PostgreSQL the read engine shares the write engine's pool and listeners.
        self.engines = {engine.db.write_engine}
        if engine.db.is_sqlite:
            self.engines.add(engine.db.read_engine)
        self.sql: list[str] = []

    def _record(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.sql.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        for each in self.engines:
            event.listen(each, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc) -> None:
        for each in self.engines:
            event.remove(each, "before_cursor_execute", self._record)

    def starting(self, *words: str) -> list[str]:
        return [s for s in self.sql if s.upper().startswith(tuple(w.upper() for w in words))]


def test_completing_a_task_is_one_short_round_of_statements(api, engine, backend):
    case = api.start(user="li.na")
    with Statements(engine) as seen:
        done = register(api, case)
    assert done["status"] == "running" and api.open_elements(done) == ["diagnose_and_repair"]
    reads = seen.starting("SELECT")
    # The task, its case and the case's open tasks: one joined read on SQLite (the write lock is
    # already held); on PostgreSQL the case row locked first, then the tasks under the lock.
    if backend["name"] == "sqlite":
        assert len(reads) == 1, reads
    else:
        assert len(reads) == 2 and reads[0].endswith("FOR UPDATE"), reads
    inserts = seen.starting("INSERT INTO case_events")
    assert len(inserts) == 1, seen.sql
    assert not [s for s in seen.sql if "RETURNING" in s.upper()], seen.sql
    assert len(seen.starting("UPDATE cases")) == 1


def test_starting_a_case_reads_no_task_rows_and_no_definition_files(api, engine):
    api.start(user="li.na")  # the deployed version parsed and cached once
    with Statements(engine) as seen:
        api.start(user="li.na")
    assert not [s for s in seen.starting("SELECT") if "FROM human_tasks" in s], seen.sql
    definition_reads = [s for s in seen.starting("SELECT") if "FROM process_definitions" in s]
    # Only the newest id of all: whether the cached newest version of each process and "who calls
    # whom" (a process only ever called by another cannot be started directly) are current.
    assert [s.split(" FROM ")[0] for s in definition_reads] == [
        "SELECT max(process_definitions.id) AS newest"
    ]
    assert len(seen.starting("INSERT INTO case_events")) == 1


def test_events_keep_the_order_they_happened_in(api):
    case = api.start(user="li.na")
    register(api, case)
    assert api.event_types(case["id"]) == [
        "case_started",
        "task_created",
        "task_completed",
        "task_created",
    ]


def test_a_rolled_back_act_leaves_no_events(engine, api):
    case = api.start(user="li.na")
    before = len(api.events(case["id"]))
    with pytest.raises(RuntimeError), engine.db.unit_of_work() as uow:
        add_event(uow.session, case["id"], uow.session.get(Case, case["id"]).updated_at, "li.na", "probe")
        raise RuntimeError("the act fails after recording an event")
    with engine.db.unit_of_work() as uow:  # the next transaction commits nothing left over
        uow.session.get(Case, case["id"])
    with engine.db.unit_of_work(write=False) as uow:
        assert uow.session.query(CaseEvent).filter_by(case_id=case["id"]).count() == before


@pytest.mark.parametrize("per_page", [1, 2, 3, 4, 50])
def test_every_page_reports_the_same_total(api, per_page):
    case = register(api, api.start(user="li.na"))
    everything = api.events(case["id"])
    assert len(everything) == 4
    pages = 4 // per_page + 2  # past the last page too
    for page in range(1, pages + 1):
        body = api.get(
            f"/api/v1/cases/{case['id']}/events?per_page={per_page}&page={page}", "sun.li"
        ).get_json()
        assert body["total"] == 4, (per_page, page, body)
        assert body["items"] == everything[(page - 1) * per_page : page * per_page]


def test_a_pooled_postgresql_connection_dropped_while_idle_is_replaced(api, engine, backend, monkeypatch):
    if backend["name"] != "postgresql":
        pytest.skip("the ping after idle is PostgreSQL's (SQLite has no server to drop a connection)")
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.05)
    case = api.start(user="li.na")
    admin = create_engine(engine.db.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # the server drops every pooled connection of the engine
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    assert dropped >= 1
    time.sleep(0.1)
    assert api.get(f"/api/v1/cases/{case['id']}", "li.na").status_code == 200
    assert register(api, case)["status"] == "running"


def test_reads_open_no_transaction(engine, backend):
    """Reads run statement by statement (each sees one committed snapshot); writes hold a
    transaction from their first statement to the commit."""
    if backend["name"] == "postgresql":
        # The driver never opens a transaction itself; a write opens one with its first statement
        # (engine/store/pg_transactions.py), a read none.
        with engine.db.unit_of_work(write=False) as uow:
            uow.session.execute(select(Case.id).limit(1)).all()
            status = uow.session.connection().connection.dbapi_connection.info.transaction_status
            assert status == TransactionStatus.IDLE
        with engine.db.unit_of_work() as uow:
            uow.session.execute(select(Case.id).limit(1)).all()
            status = uow.session.connection().connection.dbapi_connection.info.transaction_status
            assert status == TransactionStatus.INTRANS
        return
    with engine.db.unit_of_work(write=False) as uow:
        uow.session.execute(select(Case.id).limit(1)).all()
        assert uow.session.connection().connection.dbapi_connection.in_transaction is False
    with engine.db.unit_of_work() as uow:
        uow.session.execute(select(Case.id).limit(1)).all()
        assert uow.session.connection().connection.dbapi_connection.in_transaction is True


def test_a_case_written_by_another_act_meanwhile_is_not_overwritten(api, engine):
    """The case row carries a revision: an act that read it before another act committed cannot
    write it (no lost update), and nothing of its own is written either."""
    case = api.start(user="li.na")
    with pytest.raises(StaleDataError), engine.db.unit_of_work() as stale:
        row = stale.session.get_one(Case, case["id"])
        # What another act's commit would leave (SQLite's writers queue, so one cannot interleave
        # there; on PostgreSQL an act that skipped the row lock could): the revision moved on.
        stale.session.execute(
            update(Case)
            .where(Case.id == case["id"])
            .values(revision=Case.revision + 1)
            .execution_options(synchronize_session=False)
        )
        row.status = "cancelled"
        add_event(stale.session, case["id"], datetime.now(UTC), "li.na", "case_cancelled")
    after = api.get(f"/api/v1/cases/{case['id']}", "li.na").get_json()
    assert after["status"] == "running"
    assert "case_cancelled" not in api.event_types(case["id"])
