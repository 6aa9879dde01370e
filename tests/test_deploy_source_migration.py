"""Migration 0003_deploy_source: versions the service deployed itself (`system`) before the source
column existed count as shipped, so the first restart after the upgrade still never replaces a
version an owner deployed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from engine.store.db import MIGRATIONS_DIR, Database
from engine.store.types import JSONDoc, UTCDateTime

from .conftest import _postgres_database

OLD_DEFINITIONS = sa.table(
    "process_definitions",
    sa.column("process_key"),
    sa.column("version"),
    sa.column("sha256"),
    sa.column("name"),
    sa.column("bpmn_file"),
    sa.column("deployed_at", UTCDateTime()),
    sa.column("deployed_by"),
    sa.column("files", JSONDoc),
    sa.column("spec"),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url, drop = _postgres_database()
    yield url
    drop()


def test_versions_deployed_by_the_system_before_the_upgrade_count_as_shipped(empty_database_url):
    database = Database(empty_database_url)
    try:
        with database.write_engine.begin() as connection:
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            row = {
                "process_key": "complaint",
                "sha256": "0" * 64,
                "name": "Complaint",
                "bpmn_file": "complaint.bpmn",
                "deployed_at": datetime(2026, 11, 1, tzinfo=UTC),
                "files": {},
                "spec": "{}",
            }
            connection.execute(
                sa.insert(OLD_DEFINITIONS),
                [
                    {**row, "version": 1, "deployed_by": "system"},
                    {**row, "version": 2, "deployed_by": "zhou.hao"},
                    {**row, "version": 3, "deployed_by": "ops (command line)"},
                ],
            )
        database.migrate()
        with database.read_engine.connect() as connection:
            sources = connection.execute(
                sa.text("SELECT version, source FROM process_definitions ORDER BY version")
            ).all()
        assert [tuple(r) for r in sources] == [(1, "shipped"), (2, "owner"), (3, "owner")]
    finally:
        database.dispose()
