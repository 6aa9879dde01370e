"""One place that turns every error into `application/problem+json` with the right status.

Engine errors carry their own status; marshmallow/webargs errors (a body that breaks its schema)
become 422 with `errors` per field path; malformed JSON is 400; anything unexpected is logged and
answered with a 500 that reveals nothing.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from engine.errors import (
    BadRequest,
    Conflict,
    DeploymentInvalid,
    EngineError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

from .json_body import check_body

log = logging.getLogger(__name__)

STATUS_OF = {
    BadRequest: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 422,
    DeploymentInvalid: 422,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unavailable: 503,
}

SLUG_OF_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    500: "internal-error",
    503: "unavailable",
}


def problem(status: int, title: str, detail: str | None = None, slug: str | None = None, **extra) -> Response:
    body = {
        "type": f"/problems/{slug or SLUG_OF_STATUS.get(status, 'error')}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    if isinstance(body.get("errors"), dict):
        body["errors"] = {path: _once(messages) for path, messages in body["errors"].items()}
    text = json.dumps(body, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A message that quotes a client's lone surrogate: escaped, the answer is still valid UTF-8.
        text = json.dumps(body, ensure_ascii=True)
    response = Response(text, status=status, mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="complaints"'
    return response


def _once(messages):
    """Each message once, in the order first given (validators may report one fault twice)."""
    if not isinstance(messages, list):
        return messages
    seen: list = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    return seen


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """{"data": {"customer": {"name": ["..."]}}} → {"data.customer.name": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for key_path, found in flatten_errors(value, path).items():
                flat[key_path] = _once(flat.get(key_path, []) + found)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "(root)"] = _once(list(messages))
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "(root)"] = [str(messages)]
    return flat


def _webargs_errors(error: HTTPException) -> dict[str, list[str]] | None:
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or (getattr(error, "exc", None) and error.exc.messages)
    if not messages:
        return None
    # webargs nests by location: {"json": {...}}, {"query": {...}}; the location is noise here.
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "form",
        "files",
        "headers",
        "view_args",
    }:
        merged: dict[str, list[str]] = {}
        for value in messages.values():
            merged.update(flatten_errors(value))
        return merged
    return flatten_errors(messages)


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters():
        # PostgreSQL cannot compare or store text holding NUL; no identifier or filter needs one.
        if "\x00" in request.path or any(
            "\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)
        ):
            return problem(400, "Bad request", "the URL holds a NUL character")
        return None

    app.before_request(check_body)

    @app.errorhandler(EngineError)
    def engine_error(error: EngineError):
        status = STATUS_OF.get(type(error), 400)
        if isinstance(error, DeploymentInvalid):
            return problem(status, error.title, error.detail, error.slug, problems=error.problems)
        return problem(status, error.title, error.detail, error.slug, errors=error.errors or None)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        errors = _webargs_errors(error) if status in (400, 422) else None
        detail = error.description if isinstance(error.description, str) else None
        title = error.name
        if status == 422:
            title, detail = "Validation failed", "the request does not match its schema"
        if status == 400 and errors and any("Invalid JSON" in " ".join(m) for m in errors.values()):
            return problem(400, "Malformed JSON", "the request body is not valid JSON", "malformed-json")
        return problem(status, title, detail, errors=errors)

    @app.errorhandler(DataError)
    def out_of_range(error: DataError):
        # A value the database cannot hold for its column. Input checks should catch these first;
        # this keeps a client's odd value from ever becoming a 500, and logs it to be fixed.
        log.error("database refused a value: %s", error.orig)
        return problem(400, "Bad request", "a value is out of range or not allowed for its field")

    @app.errorhandler(Exception)
    def unexpected(_error: Exception):
        log.exception("unhandled error")
        return problem(500, "Internal server error", "the error has been logged")
