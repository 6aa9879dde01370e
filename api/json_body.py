"""JSON request bodies as the contract means them: strict, bounded JSON only.

Python's json module accepts `NaN` and `Infinity`, which no database JSON column and no client
library can take back; it accepts `"\\ud800"` (a lone UTF-16 surrogate), which no UTF-8 text can
hold, so the first attempt to store or send it back fails; and it parses nesting far deeper than
the code that later walks the data can follow. PostgreSQL cannot store a NUL character in text.

So every JSON body is, in this order:
1. refused before it is read when it is larger than `MAX_BODY_BYTES` (413);
2. parsed: anything that is not JSON, or holds `NaN`/`Infinity`, is malformed (400);
3. walked once, without recursion: nesting deeper than `MAX_DEPTH`, a string longer than
   `MAX_STRING_CHARS`, a key longer than `MAX_KEY_CHARS`, a lone surrogate or a NUL character
   anywhere (values or keys) is refused (422), each problem listed at its field path.

Multipart uploads (deployments, attachments) are not JSON and keep the application's own limit.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Iterator

import flask
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from engine.errors import ValidationFailed


def _limit(name: str, default: int) -> int:
    """A limit from the environment (`COMPLAINTS_<NAME>`), else its documented default."""
    text = os.environ.get(f"COMPLAINTS_{name}", "").strip()
    if not text:
        return default
    value = int(text)
    if value < 1:
        raise ValueError(f"COMPLAINTS_{name} must be a positive whole number, not {text!r}")
    return value


# Documented in the README ("What a request may hold").
MAX_BODY_BYTES = _limit("MAX_BODY_BYTES", 1024 * 1024)
MAX_DEPTH = _limit("MAX_JSON_DEPTH", 32)
MAX_STRING_CHARS = _limit("MAX_STRING_CHARS", 20_000)
MAX_KEY_CHARS = 200
# At most this many fields are listed in one answer (the walk stops there).
MAX_LISTED_PROBLEMS = 20

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constants(name: str) -> typing.NoReturn:
    raise ValueError(f"{name} is not JSON")


def strings_in(value: typing.Any) -> Iterator[str]:
    """Every string in a JSON value, keys included (iteratively: any depth is safe)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield key
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _text_problem(text: str, limit: int) -> str | None:
    """Why a string may not be stored, or None when it may."""
    if "\x00" in text:
        return "a NUL character (\\u0000) is not allowed"
    if LONE_SURROGATE.search(text):
        return "a lone UTF-16 surrogate (\\ud800-\\udfff) is not allowed; send valid Unicode"
    if len(text) > limit:
        return f"longer than {limit} characters"
    return None


def _printable(key: str) -> str:
    """A key as it may appear in an error's field path: valid UTF-8, no NUL, bounded."""
    cleaned = LONE_SURROGATE.sub("\ufffd", key[:MAX_KEY_CHARS]).replace("\x00", "\ufffd")
    return cleaned + ("…" if len(key) > MAX_KEY_CHARS else "")


def body_problems(value: typing.Any) -> dict[str, list[str]]:
    """{field path: [problem]} for everything in a parsed body that breaks the limits above.

    Walks the value with an explicit stack, so a body nested thousands of levels deep is
    measured, not followed by recursion. Each path is listed once.
    """
    problems: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        messages = problems.setdefault(path or "(root)", [])
        if message not in messages:
            messages.append(message)

    stack: list[tuple[typing.Any, str, int]] = [(value, "", 0)]
    while stack and len(problems) < MAX_LISTED_PROBLEMS:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item, MAX_STRING_CHARS)
            if problem:
                add(path, problem)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= MAX_DEPTH:
            add(path, f"nested more than {MAX_DEPTH} levels deep")
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{_printable(key)}" if path else _printable(key)
                problem = _text_problem(key, MAX_KEY_CHARS)
                if problem:
                    add(child_path, f"field name: {problem}")
                    continue
                stack.append((child, child_path, depth + 1))
        else:
            for index, child in enumerate(item):
                stack.append((child, f"{path}.{index}" if path else str(index), depth + 1))
    return problems


def _parse(req: flask.Request) -> typing.Any:
    """The body of a JSON request under the rules above; cached for the rest of the request."""
    cached = getattr(flask.g, "_strict_json", core.missing)
    if cached is not core.missing:
        return cached
    raw = req.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(f"not UTF-8: {error.reason}", str(raw[:50]), error.start) from error
    if not text:
        raise json.JSONDecodeError("empty body", "", 0)
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValidationFailed(
            "the request body is nested too deeply",
            {"(root)": [f"nested more than {MAX_DEPTH} levels deep"]},
        ) from None
    except ValueError as error:
        if isinstance(error, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(error), text[:50], 0) from error
    problems = body_problems(value)
    if problems:
        raise ValidationFailed("the request body holds values that are not allowed", problems)
    flask.g._strict_json = value
    return value


def check_body() -> flask.Response | None:
    """A `before_request` hook: the rules of this module for every request, whatever its route.

    A non-multipart body over MAX_BODY_BYTES is refused before it is read: a declared length at
    once, a body without one (chunked) as soon as more than the limit has arrived (Flask's
    per-request `max_content_length`). A JSON body is then parsed and checked here, so even a
    route that takes no body never acts on one that breaks the rules.
    """
    from .errors import problem

    request = flask.request
    if request.mimetype.startswith("multipart/"):
        return None
    request.max_content_length = MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return problem(413, "Payload too large", f"a request body may hold at most {MAX_BODY_BYTES} bytes")
    if is_json_request(request) and request.method not in ("GET", "HEAD", "OPTIONS"):
        if not request.get_data(cache=True):
            return None
        try:
            _parse(request)
        except json.JSONDecodeError:
            return problem(400, "Malformed JSON", "the request body is not valid JSON", "malformed-json")
    return None


class StrictJSONParser(FlaskParser):
    """webargs' Flask parser with the rules of this module for every JSON body."""

    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        if not is_json_request(req):
            return core.missing
        return _parse(req)
