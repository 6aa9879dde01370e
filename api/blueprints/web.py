"""The browser side of the service: sign-in and sign-out, the workbench's files, /docs assets.

- `GET /login` renders the sign-in page; `POST /login` checks the password and opens a session
  (an HttpOnly cookie, SameSite=Lax, Secure behind TLS), then redirects to `next` when it is a
  path of this service (never elsewhere). A failed sign-in answers after the same fixed delay
  whether or not the user exists.
- `POST /logout` ends the session in the database (for every node) and returns to sign-in.
- The built workbench (`web/dist`): `/assets/*` as files, any other page path its `index.html`
  (the application routes in the browser). Without a build, a page says how to make one.
- `/docs/assets/*`: Swagger UI's files from a pinned Python package, so /docs needs no CDN.
"""

from __future__ import annotations

import time
from importlib.resources import files as package_files
from pathlib import Path
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
)
from werkzeug.exceptions import NotFound
from werkzeug.routing import PathConverter

from ..auth import SESSION_COOKIE, directory, session_from_cookie, sessions

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEB_DIST = PROJECT_ROOT / "web" / "dist"
SWAGGER_UI_DIR = Path(str(package_files("flask_swagger_ui") / "dist"))
# Failed sign-ins answer after this many seconds at least (the same for unknown users).
DEFAULT_LOGIN_FAILURE_DELAY = 1.0
MAX_USERNAME = 100
MAX_PASSWORD = 1024
WRONG_CREDENTIALS = "用户名或密码不正确。Wrong username or password."

blp = Blueprint("web", __name__)


class PagePathConverter(PathConverter):
    """A path the workbench routes itself: anything but the service's own prefixes."""

    regex = r"(?!(?:api|docs|openapi\.json|metrics|login|logout|assets)(?:/|$))[^/].*?"


def install_web(app: Flask) -> None:
    """Register the page-path converter and the blueprint (after the API's blueprints)."""
    app.url_map.converters["page"] = PagePathConverter
    app.register_blueprint(blp)


def web_dist() -> Path:
    return Path(current_app.config.get("WEB_DIST") or DEFAULT_WEB_DIST)


def safe_next(value: str | None) -> str:
    """`value` when it is a path on this service; `/` for anything else (no open redirect)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path in ("/login", "/logout"):
        return "/"
    return value


def _same_origin() -> bool:
    """False when the browser says the form was posted from another site (login CSRF)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.host


def _cookie_secure() -> bool:
    return bool(current_app.config.get("SECURE_COOKIES"))


def _login_page(next_path: str, username: str = "", error: str | None = None, status: int = 200) -> Response:
    response = Response(
        render_template("login.html", next=next_path, username=username, error=error),
        status=status,
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        next_path = safe_next(request.args.get("next"))
        if session_from_cookie() is not None:
            return redirect(next_path, 303)
        return _login_page(next_path)

    if not _same_origin():
        return _login_page("/", error="请从本站的登录页登录。Sign in from this site's own page.", status=403)
    next_path = safe_next(request.form.get("next") or request.args.get("next"))
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    started = time.monotonic()
    actor = None
    if 0 < len(username) <= MAX_USERNAME and 0 < len(password) <= MAX_PASSWORD:
        actor = directory().check_password(username, password)
    else:
        # Same work as a real check, so a malformed attempt is no faster.
        directory().check_password("", password[:MAX_PASSWORD])
    if actor is None:
        delay = float(current_app.config.get("LOGIN_FAILURE_DELAY", DEFAULT_LOGIN_FAILURE_DELAY))
        remaining = delay - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        return _login_page(next_path, username=username[:MAX_USERNAME], error=WRONG_CREDENTIALS, status=401)

    # A new session id at every sign-in (an old cookie is never promoted).
    sessions().end(request.cookies.get(SESSION_COOKIE))
    session_id = sessions().create(actor.username)
    response = redirect(next_path, 303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="Lax",
        secure=_cookie_secure(),
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/logout", methods=["POST"])
def logout():
    sessions().end(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=_cookie_secure())
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/docs/assets/<path:filename>")
def docs_asset(filename: str):
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)


@blp.route("/assets/<path:filename>")
def spa_asset(filename: str):
    folder = web_dist() / "assets"
    if not folder.is_dir():
        raise NotFound("the workbench is not built")
    # Built file names carry a content hash: they never change, so browsers may keep them.
    return send_from_directory(folder, filename, max_age=365 * 86400)


@blp.route("/", endpoint="spa_index")
@blp.route("/<page:path>")
def spa(path: str = ""):
    dist = web_dist()
    index = dist / "index.html"
    if not index.is_file():
        response = Response(render_template("not_built.html"), status=503, mimetype="text/html")
        response.headers["Retry-After"] = "60"
        return response
    if path and "/" not in path and path != "index.html" and (dist / path).is_file():
        return send_from_directory(dist, path, max_age=3600)  # favicon.ico, robots.txt, ...
    if session_from_cookie() is None:
        target = request.full_path if request.query_string else request.path
        return redirect(f"/login?next={quote(target, safe='/')}", 303)
    response = send_from_directory(dist, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
