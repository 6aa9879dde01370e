"""JSON request bodies as the contract means them: strict JSON only.

Python's json module accepts `NaN` and `Infinity`, which no database JSON column and no client
library can take back, and it gives up on deep nesting with a RecursionError; PostgreSQL cannot
store a NUL character in text. All three are refused here as malformed JSON (400), like any
other body that is not JSON.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator

import flask
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request


def _no_constants(name: str) -> typing.NoReturn:
    raise ValueError(f"{name} is not JSON")


def strings_in(value: typing.Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


class StrictJSONParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError(f"not UTF-8: {error.reason}", str(raw[:50]), error.start) from error
        if not text:
            raise json.JSONDecodeError("empty body", "", 0)
        try:
            value = json.loads(text, parse_constant=_no_constants)
        except (ValueError, RecursionError) as error:
            if isinstance(error, json.JSONDecodeError):
                raise
            raise json.JSONDecodeError(str(error) or "nested too deeply", text, 0) from error
        if any("\x00" in s for s in strings_in(value)):
            raise json.JSONDecodeError("a string holds a NUL character (\\u0000)", text, 0)
        return value
