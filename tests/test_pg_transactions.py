"""PostgreSQL write transactions begun and committed with the act's own statements
(`engine/store/pg_transactions.py`): an act costs the round trips of its statements only, and a
`COMMIT` sent with the writes never commits what the act's checks would have refused.

What the service and the server say to each other is read off libpq's own protocol trace of the
real connections: each `ReadyForQuery` the server sends ends one round trip and says whether a
transaction is still open (`T`), none is (`I`), or one failed (`E`).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.pq import Trace
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from engine.projection import add_event
from engine.store.models import Case, HumanTask
from engine.store.pg_transactions import check_nothing_after_commit
from engine.store.row_writes import write_case_and_task_rows

from .flows import register


@pytest.fixture(autouse=True)
def _postgresql_only(backend):
    if backend["name"] != "postgresql":
        pytest.skip("round trips and pipelines are PostgreSQL's (SQLite runs in process)")


class Wire:
    """libpq's trace of every pooled connection the engine uses while the block runs."""

    def __init__(self, engine) -> None:
        self.pool_engine = engine.db.write_engine  # the read engine shares its pool
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self.traced: list[Any] = []

    def _on_checkout(self, dbapi_connection, _record, _proxy) -> None:
        pgconn = dbapi_connection.pgconn
        pgconn.trace(self.file.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        self.traced.append(pgconn)

    def __enter__(self) -> Wire:
        event.listen(self.pool_engine, "checkout", self._on_checkout)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.pool_engine, "checkout", self._on_checkout)
        for pgconn in self.traced:
            pgconn.untrace()
        self.file.seek(0)
        self.messages = [line.split("\t") for line in self.file.read().decode().splitlines()]
        self.file.close()

    def round_trips(self) -> str:
        """The transaction status after each round trip, in order ("TI": one left a transaction
        open, the next ended it)."""
        return "".join(m[3].strip() for m in self.messages if m[0] == "B" and m[2] == "ReadyForQuery")

    def batches(self) -> list[list[str]]:
        """The commands the server completed, one list per round trip."""
        batches: list[list[str]] = [[]]
        for m in self.messages:
            if m[0] == "B" and m[2] == "CommandComplete":
                batches[-1].append(m[3].strip().strip('"').split(" ")[0])
            elif m[0] == "B" and m[2] == "ReadyForQuery":
                batches.append([])
        return batches[:-1]

    def commands(self, *names: str) -> list[str]:
        """The transaction commands the server completed, in order."""
        done = [m[3].strip().strip('"') for m in self.messages if m[0] == "B" and m[2] == "CommandComplete"]
        return [command for command in done if command in names]


def test_completing_a_task_is_two_round_trips_with_begin_and_commit_inside(api, engine):
    case = api.start(user="li.na")
    with Wire(engine) as wire:
        done = register(api, case)
    assert api.open_elements(done) == ["diagnose_and_repair"]
    # The case locked and its tasks read (BEGIN in the same batch), then the writes with COMMIT.
    assert wire.round_trips() == "TI"
    assert wire.commands("BEGIN", "COMMIT", "ROLLBACK") == ["BEGIN", "COMMIT"]
    locked_read, writes = wire.batches()
    assert locked_read == ["BEGIN", "SELECT", "SELECT"], locked_read
    assert writes[0] == "UPDATE" and writes[-1] == "COMMIT", writes


def test_starting_a_case_begins_with_its_first_statement_and_commits_with_its_writes(api, engine):
    api.start(user="li.na")  # the deployed version parsed and cached once
    with Wire(engine) as wire:
        api.start(user="li.na")
    trips = wire.round_trips()
    assert trips.endswith("I") and set(trips[:-1]) == {"T"}, trips
    assert wire.commands("BEGIN", "COMMIT", "ROLLBACK") == ["BEGIN", "COMMIT"]
    batches = wire.batches()
    # Neither travels alone: BEGIN goes with the first statement, COMMIT with the last writes.
    assert batches[0][0] == "BEGIN" and len(batches[0]) > 1, batches
    assert batches[-1][-1] == "COMMIT" and "INSERT" in batches[-1], batches


def test_reads_send_no_transaction_commands(api, engine):
    case = register(api, api.start(user="li.na"))
    with Wire(engine) as wire:
        assert api.get(f"/api/v1/cases/{case['id']}", "li.na").status_code == 200
        assert api.get(f"/api/v1/tasks?case_id={case['id']}", "li.na").status_code == 200
    assert set(wire.round_trips()) == {"I"}
    assert wire.commands("BEGIN", "COMMIT", "ROLLBACK") == []


def _bump_revision_elsewhere(engine, case_id: str) -> None:
    """Another act's committed write of the case, on a connection of its own."""
    other = create_engine(engine.db.url)
    with other.begin() as connection:
        connection.execute(text("UPDATE cases SET revision = revision + 1 WHERE id = :id"), {"id": case_id})
    other.dispose()


def _probe_task(task_id: str, case: Case) -> HumanTask:
    """A new open task row of `case`, written at the act's commit."""
    return HumanTask(
        id=task_id,
        case_id=case.id,
        process_key=case.process_key,
        element_id="probe",
        name="probe",
        status="open",
        created_at=datetime.now(UTC),
    )


def test_a_case_read_before_its_lock_keeps_the_commit_apart_and_writes_nothing(api, engine):
    """Holding the row lock is not enough for the COMMIT to ride with the writes: the instance
    must carry the revision the row had under the lock. One loaded earlier, then moved on by
    another act, must fail the compare-and-swap before anything commits."""
    case = api.start(user="li.na")
    with pytest.raises(StaleDataError), engine.db.unit_of_work() as uow:
        early = uow.session.get_one(Case, case["id"])  # read without the lock
        _bump_revision_elsewhere(engine, case["id"])
        locked = uow.lock_case(case["id"])
        assert locked is early  # the session's instance, with the revision it read before
        locked.status = "cancelled"
        uow.session.add(_probe_task("probe-task", early))
    after = api.get(f"/api/v1/cases/{case['id']}", "li.na").get_json()
    assert after["status"] == "running"
    with engine.db.unit_of_work(write=False) as uow:
        assert uow.session.get(HumanTask, "probe-task") is None


def test_a_failing_statement_in_the_last_batch_stops_its_commit(api, engine):
    """A statement that fails in the batch that carries the COMMIT makes the server skip the
    COMMIT: the act's other writes in that batch (the case row) are not committed."""
    case = api.start(user="li.na")
    with engine.db.unit_of_work(write=False) as uow:
        existing = uow.session.execute(
            select(HumanTask.id).where(HumanTask.case_id == case["id"])
        ).scalar_one()
    with Wire(engine) as wire, pytest.raises(IntegrityError), engine.db.unit_of_work() as uow:
        locked = uow.lock_case(case["id"])
        locked.status = "cancelled"
        locked.priority = "urgent"
        # The primary key of a task that exists: the INSERT fails.
        uow.session.add(_probe_task(existing, locked))
    assert "E" in wire.round_trips()  # the batch failed inside the transaction ...
    assert wire.commands("BEGIN", "COMMIT", "ROLLBACK") == ["BEGIN", "ROLLBACK"]  # ... and was undone
    after = api.get(f"/api/v1/cases/{case['id']}", "li.na").get_json()
    assert (after["status"], after["priority"]) == ("running", case["priority"])


def test_a_write_unit_of_work_holds_one_transaction_from_its_first_statement(engine):
    with engine.db.unit_of_work() as uow:
        first = uow.session.execute(select(text("txid_current()"))).scalar_one()
        uow.session.execute(select(Case.id).limit(1)).all()
        assert uow.session.execute(select(text("txid_current()"))).scalar_one() == first
    with engine.db.unit_of_work(write=False) as uow:
        one = uow.session.execute(select(text("txid_current()"))).scalar_one()
        assert uow.session.execute(select(text("txid_current()"))).scalar_one() != one


def test_a_savepoint_released_mid_act_commits_nothing_of_the_act(api, engine):
    """Releasing a savepoint runs the session's commit hooks too; the COMMIT must ride only with
    the outermost transaction's writes, or a later failure of the act could not undo them."""
    case = api.start(user="li.na")
    before = api.event_types(case["id"])
    with pytest.raises(RuntimeError), engine.db.unit_of_work() as uow:
        locked = uow.lock_case(case["id"])
        with uow.session.begin_nested():
            add_event(uow.session, case["id"], locked.updated_at, "li.na", "probe")
            locked.priority = "urgent"
        raise RuntimeError("the act fails after its savepoint was released")
    assert api.event_types(case["id"]) == before
    assert api.get(f"/api/v1/cases/{case['id']}", "li.na").get_json()["priority"] == case["priority"]


def test_a_statement_after_a_riding_commit_is_refused_loudly(api, engine):
    """The guard behind `commit_may_ride`'s assumption: should anything be sent between the batch
    that carried the COMMIT and the end of the session's commit, the act fails instead of
    writing it in a transaction of its own."""
    case = api.start(user="li.na")
    with engine.db.unit_of_work() as uow:
        locked = uow.lock_case(case["id"])
        locked.priority = "urgent"
        assert write_case_and_task_rows(uow.session, last=True) is True  # the COMMIT rode
        check_nothing_after_commit(uow.session)  # nothing since: no complaint
        uow.session.execute(select(Case.id).limit(1)).all()  # a statement after the COMMIT
        with pytest.raises(RuntimeError, match="after the act's COMMIT"):
            check_nothing_after_commit(uow.session)
    assert api.get(f"/api/v1/cases/{case['id']}", "li.na").get_json()["priority"] == "urgent"


def test_the_libpq_values_compared_are_psycopgs_own():
    """`pg_transactions` and `prepared` compare libpq's statuses with plain numbers, so that a
    SQLite process never loads psycopg; they must be the values psycopg reports."""
    from psycopg.pq import ExecStatus, PipelineStatus, TransactionStatus

    from engine.store import pg_transactions, prepared

    assert pg_transactions.PQTRANS_IDLE == TransactionStatus.IDLE
    assert pg_transactions.PQ_PIPELINE_OFF == PipelineStatus.OFF
    assert prepared.PGRES_TUPLES_OK == ExecStatus.TUPLES_OK
