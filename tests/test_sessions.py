"""Signing in to the workbench: passwords, session cookies, CSRF, sign-out and idle expiry.

Through the real Flask app and the real database (SQLite and PostgreSQL); the clock is moved
with time-machine, never slept on.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import text

from api import create_app
from api.auth import SESSION_COOKIE
from engine.config import EngineConfig
from engine.core import Engine
from engine.identity import Directory

from .support import auth, password_of, start_data, token_of

FAILURE_DELAY = 0.25


@pytest.fixture
def web_app(app):
    app.config["LOGIN_FAILURE_DELAY"] = FAILURE_DELAY
    return app


def sign_in(client, username: str, password: str | None = None, next_path: str | None = "/", **kw):
    form = {"username": username, "password": password_of(username) if password is None else password}
    if next_path is not None:
        form["next"] = next_path
    return client.post("/login", data=form, **kw)


def signed_in(app, username: str):
    """A browser-like client with a session; returns (client, csrf token)."""
    client = app.test_client()
    response = sign_in(client, username)
    assert response.status_code == 303, response.get_data(as_text=True)
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    return client, me.get_json()["csrf_token"]


def cookie_of(response) -> str:
    match = re.search(rf"{SESSION_COOKIE}=([^;]*)", response.headers.get("Set-Cookie", ""))
    assert match, response.headers
    return match.group(1)


def count_cases(engine) -> int:
    with engine.db.unit_of_work(write=False) as uow:
        return uow.session.execute(text("SELECT COUNT(*) FROM cases")).scalar_one()


# ---- the page and signing in


def test_sign_in_page_is_chinese_first_fits_a_phone_and_loads_nothing_from_elsewhere(web_app):
    response = web_app.test_client().get("/login?next=/cases/1")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert page.index("登录") < page.index("Sign in")
    assert 'name="viewport" content="width=device-width' in page
    assert 'name="username"' in page and 'type="password"' in page
    assert 'name="next" value="/cases/1"' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert response.headers["Cache-Control"] == "no-store"


def test_signing_in_opens_a_hardened_session_and_goes_where_the_person_was_going(web_app):
    client = web_app.test_client()
    response = sign_in(client, "li.na", next_path="/cases/abc?tab=timeline")
    assert response.status_code == 303
    assert response.headers["Location"] == "/cases/abc?tab=timeline"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.get_json()
    assert body["username"] == "li.na" and body["groups"] == ["agents"]
    assert body["display_name"] == "li.na"
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])


def test_cookies_are_secure_when_the_service_is_behind_tls(engine, directory):
    from api.cli import web_config

    assert web_config({"COMPLAINTS_SECURE_COOKIES": "true"}) == {"SECURE_COOKIES": True}
    assert web_config({}) == {"SECURE_COOKIES": False}
    app = create_app(
        engine, directory, {"TESTING": True, **web_config({"COMPLAINTS_SECURE_COOKIES": "true"})}
    )
    response = sign_in(app.test_client(), "li.na")
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


WRONG = [
    ("li.na", "wrong-password"),  # a real user, the wrong password
    ("no.such.user", "pw-no.such.user"),  # nobody by that name
    ("li.na", ""),  # no password
    ("", "pw-li.na"),  # no username
    ("x" * 101, "whatever"),  # too long a name
    ("li.na", "p" * 5000),  # too long a password
    ("li.na", password_of("wu.fang")),  # another user's password
]


@pytest.mark.parametrize("username, password", WRONG)
def test_wrong_credentials_get_the_page_again_after_the_delay_the_same_for_everyone(
    web_app, username, password
):
    client = web_app.test_client()
    started = time.monotonic()
    response = sign_in(client, username, password, next_path="/inbox")
    elapsed = time.monotonic() - started
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert elapsed >= FAILURE_DELAY
    page = response.get_data(as_text=True)
    assert "用户名或密码不正确" in page and 'name="next" value="/inbox"' in page
    # The same page whoever was tried, but for the name typed into the field.
    reference = sign_in(web_app.test_client(), "no.such.user", "x", next_path="/inbox").get_data(as_text=True)
    normalize = re.compile(r'id="username" name="username" value="[^"]*"')
    assert normalize.sub("", page) == normalize.sub("", reference)
    assert client.get("/api/v1/me").status_code == 401


def test_a_password_counts_only_for_its_own_user_and_a_token_is_no_password(web_app):
    client = web_app.test_client()
    assert sign_in(client, "li.na", token_of("li.na")).status_code == 401
    assert sign_in(client, "li.na", password_of("li.na").upper()).status_code == 401
    assert sign_in(client, " li.na ", password_of("li.na")).status_code == 303  # spaces around a name


def test_a_cross_site_sign_in_form_is_refused(web_app):
    client = web_app.test_client()
    response = sign_in(client, "li.na", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "Set-Cookie" not in response.headers
    same_site = sign_in(client, "li.na", headers={"Origin": "http://localhost"})
    assert same_site.status_code == 303


OFFSITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/path",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\t/evil.example",
    "/login",
    "/logout",
    "",
]


@pytest.mark.parametrize("next_path", OFFSITE)
def test_never_an_open_redirect(web_app, next_path):
    response = sign_in(web_app.test_client(), "li.na", next_path=next_path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = web_app.test_client().get("/login", query_string={"next": next_path}).get_data(as_text=True)
    assert 'name="next" value="/"' in page


def test_the_sign_in_page_sends_a_signed_in_person_on(web_app):
    client, _ = signed_in(web_app, "li.na")
    response = client.get("/login?next=/inbox")
    assert response.status_code == 303 and response.headers["Location"] == "/inbox"


# ---- sessions in the database


def test_only_a_hash_of_the_session_id_is_stored_and_each_sign_in_gets_a_new_one(web_app, engine):
    client = web_app.test_client()
    first = cookie_of(sign_in(client, "li.na"))
    second = cookie_of(sign_in(client, "li.na"))
    assert first != second
    with engine.db.unit_of_work(write=False) as uow:
        rows = uow.session.execute(text("SELECT id_sha256, username FROM web_sessions")).all()
    # Signing in again ended the session the browser had.
    assert rows == [(hashlib.sha256(second.encode()).hexdigest(), "li.na")]
    stale = web_app.test_client()
    stale.set_cookie(SESSION_COOKIE, first)
    assert stale.get("/api/v1/me").status_code == 401


def test_signing_out_ends_the_session_for_every_node(web_app, engine, directory, database_url):
    client = web_app.test_client()
    session_id = cookie_of(sign_in(client, "chen.jie"))
    # A second node: its own engine and app on the same database.
    other_engine = Engine(EngineConfig(database_url=database_url), directory)
    try:
        other = create_app(other_engine, directory, {"TESTING": True}).test_client()
        other.set_cookie(SESSION_COOKIE, session_id)
        assert other.get("/api/v1/me").get_json()["username"] == "chen.jie"
        response = other.post("/logout")
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        assert f"{SESSION_COOKIE}=;" in response.headers["Set-Cookie"]
        # The first node's browser still sends the old cookie: refused.
        me = client.get("/api/v1/me")
        assert me.status_code == 401 and me.mimetype == "application/problem+json"
    finally:
        other_engine.close()
    with engine.db.unit_of_work(write=False) as uow:
        assert uow.session.execute(text("SELECT COUNT(*) FROM web_sessions")).scalar_one() == 0


def test_a_session_ends_after_twelve_idle_hours_and_each_request_keeps_it_alive(web_app, engine):
    start = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        client, _ = signed_in(web_app, "li.na")
        clock.shift(timedelta(hours=11, minutes=59))
        assert client.get("/api/v1/me").status_code == 200  # in use: idle time starts again
        clock.shift(timedelta(hours=11, minutes=59))
        assert client.get("/api/v1/me").status_code == 200  # 23h58m after signing in
        clock.shift(timedelta(hours=12))
        response = client.get("/api/v1/me")
        assert response.status_code == 401
        assert "sign in again" in response.get_json()["detail"]
        clock.shift(timedelta(minutes=1))
        assert client.get("/api/v1/me").status_code == 401
    with engine.db.unit_of_work(write=False) as uow:
        assert uow.session.execute(text("SELECT COUNT(*) FROM web_sessions")).scalar_one() == 0


def test_a_session_of_someone_no_longer_in_the_users_file_is_refused(web_app, engine):
    session_id = cookie_of(sign_in(web_app.test_client(), "he.ping"))
    fewer = Directory(
        [
            (user, None)
            for name, user in web_app.extensions["complaints.directory"].users.items()
            if name != "he.ping"
        ]
    )
    client = create_app(engine, fewer, {"TESTING": True}).test_client()
    client.set_cookie(SESSION_COOKIE, session_id)
    assert client.get("/api/v1/me").status_code == 401


def test_signed_out_api_calls_get_401_problems(web_app):
    client = web_app.test_client()
    for path in ("/api/v1/me", "/api/v1/cases", "/api/v1/tasks"):
        response = client.get(path)
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
    client.set_cookie(SESSION_COOKIE, "made-up-session-id")
    assert client.get("/api/v1/me").status_code == 401
    client.set_cookie(SESSION_COOKIE, "x" * 3000)
    assert client.get("/api/v1/me").status_code == 401


# ---- CSRF


def _write_routes() -> list[tuple[str, str]]:
    """Every state-changing /api route of the app, as (method, rule)."""
    engine = Engine(EngineConfig(database_url="sqlite:////nonexistent/routes-only.db"))
    app = create_app(engine, Directory([]), {"TESTING": True})
    routes = sorted(
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods or ()
        if method in ("POST", "PUT", "PATCH", "DELETE")
    )
    engine.close()
    return routes


WRITE_ROUTES = _write_routes()


def _concrete(rule: str) -> str:
    return re.sub(r"<(?:int:)?[^>]+>", lambda m: "1" if m.group(0).startswith("<int:") else "x-1", rule)


def test_every_write_route_is_covered():
    assert ("POST", "/api/v1/cases") in WRITE_ROUTES
    assert ("POST", "/api/v1/tasks/<string:task_id>/complete") in WRITE_ROUTES
    assert len(WRITE_ROUTES) >= 8


@pytest.mark.parametrize("method, rule", WRITE_ROUTES, ids=[f"{m} {r}" for m, r in WRITE_ROUTES])
def test_every_change_made_with_the_cookie_needs_the_csrf_token(web_app, engine, method, rule):
    client, csrf = signed_in(web_app, "admin")
    path = _concrete(rule)
    body = {"process": "complaint", "data": start_data()} if rule == "/api/v1/cases" else {}
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 403, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"] == "/problems/csrf"
    assert count_cases(engine) == 0
    # With the token the request goes through to the endpoint (which may refuse it otherwise).
    response = client.open(path, method=method, json=body, headers={"X-CSRF-Token": csrf})
    assert (response.get_json() or {}).get("type") != "/problems/csrf"
    assert response.status_code < 500


def test_a_change_with_cookie_and_token_goes_through(web_app, engine):
    client, csrf = signed_in(web_app, "li.na")
    response = client.post(
        "/api/v1/cases", json={"process": "complaint", "data": start_data()}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["first_contact_owner"] == "li.na"
    assert count_cases(engine) == 1


def test_bearer_tokens_work_unchanged_and_need_no_csrf_token(web_app, engine):
    client = web_app.test_client()
    response = client.post(
        "/api/v1/cases", json={"process": "complaint", "data": start_data()}, headers=auth("callcentre")
    )
    assert response.status_code == 201
    me = client.get("/api/v1/me", headers=auth("callcentre"))
    assert me.get_json() == {
        "username": "callcentre",
        "display_name": "callcentre",
        "groups": ["integrations"],
        "csrf_token": None,
    }
    # A bearer token decides alone, even beside a session cookie (of someone else).
    browser, _ = signed_in(web_app, "li.na")
    assert browser.get("/api/v1/me", headers=auth("sun.li")).get_json()["username"] == "sun.li"
    bad = browser.get("/api/v1/me", headers={"Authorization": "Bearer not-a-valid-token-at-all"})
    assert bad.status_code == 401


# ---- users file and the command line


def test_hash_password_prints_an_argon2id_hash_the_users_file_accepts(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "api", "hash-password"],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("$argon2id$v=19$")
    directory = Directory.from_yaml(
        f"users:\n  - username: wang.wu\n    groups: [agents]\n    password_hash: '{hashed}'\n"
    )
    assert directory.check_password("wang.wu", "correct horse battery") is not None
    assert directory.check_password("wang.wu", "correct horse battery\n") is None
    short = subprocess.run(
        [sys.executable, "-m", "api", "hash-password"],
        input="short\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert short.returncode == 2 and "at least 8" in short.stderr


BAD_HASHES = [
    "plain-text-password",
    "$2b$12$KIXQJ9uFQ1o1c6nZrj3YxOq8YQ1f6b8c9d0e1f2a3b4c5d6e7f8g9h",  # bcrypt
    "$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",  # argon2i, not id
    "$argon2id$v=19$m=65536,t=3,p=4$broken",
    "",
]


@pytest.mark.parametrize("value", BAD_HASHES)
def test_the_users_file_refuses_anything_but_an_argon2id_hash(value):
    from engine.identity import UsersFileError

    with pytest.raises(UsersFileError, match="password_hash"):
        Directory.from_yaml(
            f"users:\n  - username: a.b\n    password_hash: '{value}'\n    token: {'t' * 20}\n"
        )


def test_a_user_may_have_a_token_a_password_or_both_but_not_neither():
    from argon2 import PasswordHasher

    from engine.identity import UsersFileError, hash_password

    hashed = hash_password("password-one", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    directory = Directory.from_yaml(
        "users:\n"
        f"  - {{username: tok.only, groups: [agents], token: {'a' * 20}}}\n"
        f"  - {{username: pw.only, groups: [agents], password_hash: '{hashed}'}}\n"
        f"  - {{username: both, groups: [agents], token: {'b' * 20}, password_hash: '{hashed}'}}\n"
    )
    assert directory.authenticate("a" * 20).username == "tok.only"
    assert directory.check_password("tok.only", "password-one") is None
    assert directory.check_password("pw.only", "password-one").username == "pw.only"
    assert directory.check_password("both", "password-one").username == "both"
    assert directory.authenticate("b" * 20).username == "both"
    with pytest.raises(UsersFileError, match="token, a token_sha256 or a password_hash"):
        Directory.from_yaml("users:\n  - {username: nothing, groups: [agents]}\n")


def test_demo_users_get_passwords_that_sign_them_in():
    from engine.identity import DEMO_USERS, demo_directory

    directory, tokens, passwords = demo_directory()
    assert set(passwords) == {u for u, _, _ in DEMO_USERS} == set(tokens)
    assert len(set(passwords.values())) == len(passwords)
    for username in ("li.na", "chen.jie"):
        assert directory.check_password(username, passwords[username]).username == username
        assert directory.check_password(username, tokens[username]) is None
