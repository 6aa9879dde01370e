"""Who is calling: a bearer token (integrations, scripts) or the workbench's session cookie.

Every endpoint but health, the OpenAPI document, the docs, the sign-in page and the workbench's
static files needs one of them. A request that carries `Authorization` is judged by its token
alone. A request authenticated by the cookie that changes state (anything but GET, HEAD,
OPTIONS) must also carry the session's CSRF token in `X-CSRF-Token`, else 403: a page of another
site can make a browser send the cookie, but cannot read the token.
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, g, request

from engine.identity import Actor, Directory
from engine.sessions import ActiveSession, SessionStore

from .errors import problem

SESSION_COOKIE = "complaints_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PUBLIC_ENDPOINTS = {
    "health.health",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "static",
    # The sign-in page and the workbench's files (api/blueprints/web.py): they decide themselves.
    "web.login",
    "web.logout",
    "web.docs_asset",
    "web.spa_asset",
    "web.spa_index",
    "web.spa",
}


def current_actor() -> Actor:
    return g.actor


def current_session() -> ActiveSession | None:
    """The workbench session of this request, when it was authenticated by the cookie."""
    return g.get("web_session")


def sessions() -> SessionStore:
    return current_app.extensions["complaints.sessions"]


def directory() -> Directory:
    return current_app.extensions["complaints.directory"]


def session_from_cookie() -> tuple[ActiveSession, Actor] | None:
    """The valid session of the request's cookie and its user (still in the users file)."""
    active = sessions().check(request.cookies.get(SESSION_COOKIE))
    if active is None:
        return None
    actor = directory().users.get(active.username)
    return (active, actor) if actor is not None else None


def install_auth(app: Flask, users: Directory, store: SessionStore) -> None:
    app.extensions["complaints.directory"] = users
    app.extensions["complaints.sessions"] = store

    @app.before_request
    def authenticate():
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        header = request.headers.get("Authorization")
        if header is None and SESSION_COOKIE in request.cookies:
            return _authenticate_cookie()
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(401, "Unauthorized", "send Authorization: Bearer <token>, or sign in at /login")
        actor = directory().authenticate(token.strip())
        if actor is None:
            return problem(401, "Unauthorized", "the token is not valid")
        g.actor = actor
        return None


def _authenticate_cookie():
    found = session_from_cookie()
    if found is None:
        return problem(401, "Unauthorized", "the session has ended; sign in again at /login")
    active, actor = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8"), active.csrf_token.encode("utf-8")):
            return problem(
                403,
                "CSRF token missing or wrong",
                f"a change made with the session cookie needs the {CSRF_HEADER} header from /api/v1/me",
                slug="csrf",
            )
    g.actor = actor
    g.web_session = active
    return None
