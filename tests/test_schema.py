"""The schema the Alembic migrations build is the one the models describe, on both databases.

A model change without its migration (or a migration that drifts from the models) would leave a
database upgraded in place different from one the tests build; this catches it.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine.store.models import Base


def test_migrated_schema_matches_the_models(engine):
    with engine.db.write_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_due_timers_are_indexed_for_live_cases_only(engine):
    with engine.db.write_engine.connect() as connection:
        indexes = {index["name"]: index for index in inspect(connection).get_indexes("cases")}
    assert "ix_case_next_timer" not in indexes
    due = indexes["ix_case_due_timer"]
    assert due["column_names"] == ["next_timer_at"]
    predicate = (due.get("dialect_options") or {}).get(f"{engine.db.write_engine.dialect.name}_where", "")
    assert "running" in str(predicate) and "error" in str(predicate)
