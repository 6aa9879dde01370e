"""Test fixtures: a real database per backend, the real engine and Flask app, known users.

Every test that asks for `engine` (or anything built on it) runs twice: on SQLite and on
PostgreSQL. Each pytest run creates a PostgreSQL database of its own and drops it at the end.
Outside CI an unreachable PostgreSQL skips those tests with the reason; with CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.config import EngineConfig
from engine.core import Engine
from engine.identity import Actor, Directory, hash_password

from .support import ServiceClient, password_of, token_of

ROOT = Path(__file__).resolve().parents[1]
DEFINITION_DIRS = (ROOT / "processes", ROOT / "forms")
POSTGRES_ADMIN_URL = os.environ.get(
    "COMPLAINTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"

# username → groups. One per group, plus a second agent and manager, and a user who is both
# after-sales lead and manager (to show an applicant may not approve their own application).
USERS = {
    "li.na": ["agents"],
    "wu.fang": ["agents"],
    "wang.qiang": ["technicians"],
    "zhao.min": ["after_sales_leads"],
    "chen.jie": ["managers"],
    "he.ping": ["managers"],
    "ma.li": ["after_sales_leads", "managers"],
    "liu.yang": ["general_managers"],
    "sun.li": ["supervisors"],
    "zhou.hao": ["process_owners"],
    "callcentre": ["integrations"],
    "admin": ["admins"],
}

# Tables holding case data, emptied between tests (definitions are deployed once per run).
CASE_TABLES = [
    "attachments",
    "case_links",
    "approvals",
    "escalations",
    "case_events",
    "human_tasks",
    "idempotency_keys",
    "cases",
    "counters",
    "web_sessions",
]


def _cheap_password_hashes() -> dict[str, str]:
    """Every test user's password (`password_of`) as argon2id, made with cheap parameters:
    the tests check the sign-in logic, not argon2's cost, and hash once per run."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    return {name: hash_password(password_of(name), hasher) for name in USERS}


def make_directory() -> Directory:
    hashes = _cheap_password_hashes()
    yaml_text = "users:\n" + "".join(
        f"  - username: {name}\n    groups: [{', '.join(groups)}]\n    token: {token_of(name)}\n"
        f"    password_hash: '{hashes[name]}'\n"
        for name, groups in USERS.items()
    )
    return Directory.from_yaml(yaml_text)


@pytest.fixture(scope="session")
def directory() -> Directory:
    return make_directory()


def actor(directory: Directory, username: str) -> Actor:
    return directory.users[username]


# ---- databases


def _postgres_database():
    """Create a database of our own on the PostgreSQL server; returns (url, drop)."""
    admin_url = make_url(POSTGRES_ADMIN_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        message = f"PostgreSQL is not reachable at {admin_url.render_as_string(hide_password=True)}: {error}"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    name = f"complaints_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request, tmp_path_factory, directory):
    """A migrated database with the shipped processes deployed, once per run and backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "template.db"
        url, drop = f"sqlite:///{path}", (lambda: None)
    else:
        url, drop = _postgres_database()
    seed = Engine(EngineConfig(database_url=url), directory)
    seed.migrate()
    seed.deploy_folders(*DEFINITION_DIRS)
    with seed.db.unit_of_work(write=False) as uow:
        baseline = uow.session.execute(text("SELECT COALESCE(MAX(id), 0) FROM process_definitions")).scalar()
    seed.close()
    yield {"name": request.param, "url": url, "baseline_definition_id": baseline}
    drop()


@pytest.fixture
def database_url(backend, tmp_path):
    """A clean database for one test: a copy of the SQLite template, or emptied PostgreSQL tables."""
    if backend["name"] == "sqlite":
        template = Path(make_url(backend["url"]).database)
        path = tmp_path / "complaints.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url = backend["url"]
    yield url
    cleaner = create_engine(url)
    with cleaner.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(CASE_TABLES)} RESTART IDENTITY CASCADE"))
        connection.execute(
            text("DELETE FROM process_definitions WHERE id > :b"), {"b": backend["baseline_definition_id"]}
        )
    cleaner.dispose()


@pytest.fixture
def engine(database_url, directory, tmp_path):
    built = Engine(EngineConfig(database_url=database_url, files_dir=str(tmp_path / "files")), directory)
    yield built
    built.close()


@pytest.fixture
def app(engine, directory):
    from api import create_app

    return create_app(engine, directory, {"TESTING": True})


@pytest.fixture
def api(app) -> ServiceClient:
    return ServiceClient(app.test_client())


@pytest.fixture
def live_server(app):
    """The app behind a real WSGI server (waitress) on a free port: real HTTP, real threads."""
    import threading

    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=24, ident="test")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    # Closed from the server's own loop thread (a trigger runs the thunk there): closing its
    # sockets from this thread raced with the loop's select() on them. With its socket map empty,
    # the loop ends by itself.
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(timeout=5)
    server.task_dispatcher.shutdown()
    assert not thread.is_alive(), "the test server's loop did not stop"


@pytest.fixture
def contract(app):
    """The service's own OpenAPI document, loaded by schemathesis against the app (WSGI)."""
    import schemathesis

    return schemathesis.openapi.from_wsgi("/openapi.json", app)


# ---- a real browser


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium, for Playwright (`executable_path=`). Missing: skipped with the reason,
    except under CI=true, where it fails (scripts/test installs it with apt-get)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk; scripts/test does)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def chromium(chromium_executable):
    """One headless Chromium for the whole run, shared by every browser test (Playwright's sync API
    runs one instance per thread); each test opens contexts of its own (own cookies)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            args=["--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()
