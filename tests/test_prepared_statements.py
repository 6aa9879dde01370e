"""The write path's prepared statements (`engine/store/prepared.py`) store what SQLAlchemy would.

The case, task and event rows of every act are written on the driver's connection with the bind
processors of their column types. These tests read the rows back both ways (the ORM and the
database's own text) on SQLite and PostgreSQL, and check that driver errors keep SQLAlchemy's
exception classes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, insert, select, text

from engine.store.models import Case, CaseEvent, HumanTask
from engine.store.prepared import Prepared

from .flows import register


def test_an_acts_rows_read_back_as_written(api, engine):
    case = api.start(user="li.na")
    with engine.db.unit_of_work(write=False) as uow:
        row = uow.session.get_one(Case, case["id"])
        tasks = uow.session.execute(select(HumanTask).where(HumanTask.case_id == case["id"])).scalars().all()
        events = uow.session.execute(select(CaseEvent).where(CaseEvent.case_id == case["id"])).scalars().all()
        # Aware UTC moments, JSON back as Python data, text as sent (no escapes, no truncation).
        assert row.created_at.tzinfo is not None and row.created_at.utcoffset().total_seconds() == 0
        assert row.data["customer"]["name"] == "张三" and row.data["business_key"] == case["business_key"]
        assert row.revision == 1 and row.linked is False and row.timer_failures == 0
        assert tasks and all(
            t.created_at.tzinfo is not None and t.data["customer"]["name"] == "张三" for t in tasks
        )
        assert [e.type for e in events][:1] == ["case_started"] and events[0].detail["process"] == "complaint"
        raw = uow.session.execute(
            text("SELECT data FROM cases WHERE id = :id"), {"id": case["id"]}
        ).scalar_one()
    # SQLite keeps JSON as text: written as UTF-8, like SQLAlchemy's own writes with the engine's serializer.
    if isinstance(raw, str):
        assert "张三" in raw
    done = register(api, case)
    with engine.db.unit_of_work(write=False) as uow:
        assert uow.session.get_one(Case, case["id"]).revision == 2
        finished = uow.session.get_one(HumanTask, api.open_task(case, "register_complaint")["id"])
        assert finished.status == "completed" and finished.completed_by == "li.na"
        assert finished.completed_at is not None and finished.completed_at <= datetime.now(UTC)
    assert done["status"] == "running"


def test_a_driver_error_keeps_sqlalchemys_exception_class(api, engine):
    case = api.start(user="li.na")
    event = Prepared(
        insert(CaseEvent).values(
            {name: bindparam(name) for name in ("case_id", "at", "actor", "type", "detail")}
        )
    )
    with pytest.raises(exc.IntegrityError), engine.db.unit_of_work() as uow:
        connection = uow.session.connection()
        values = {"at": datetime.now(UTC), "actor": "li.na", "type": "probe", "detail": {}}
        assert event.execute(connection, {"case_id": case["id"], **values}) == 1
        event.execute(connection, {"case_id": "no-such-case", **values})  # the foreign key refuses it
    assert "probe" not in api.event_types(case["id"])  # the act rolled back as a whole
