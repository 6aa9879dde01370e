"""The planned dump (`api/dumping.py`) gives exactly marshmallow's result, for every response schema.

The reference is marshmallow's own path, taken by handing it the same data with every dict made
a dict subclass (the plan takes plain dicts only; marshmallow reads a subclass the same way).
Results are compared as JSON text, so key order counts as it does on the wire.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import types
import typing

import pytest
from marshmallow import fields, missing, post_dump, pre_dump

from api import (
    create_app,  # noqa: F401  (imports every blueprint: every response schema exists)
    dumping,
)
from api.schemas import StrictSchema

from .flows import register, repair, reply, visit
from .support import start_data


class _Plain(dict):
    """A dict marshmallow reads as any mapping, and the plan leaves to marshmallow."""


def _marshmallow_only(value: typing.Any) -> typing.Any:
    if isinstance(value, dict):
        return _Plain({key: _marshmallow_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_marshmallow_only(item) for item in value]
    return value


def _text(value: typing.Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_unjsonable)


def _unjsonable(value: typing.Any) -> str:
    """What is not JSON, named without its address (a dict's bound `items`, for one)."""
    return f"<{type(value).__name__} {getattr(value, '__name__', None) or repr(value)}>"


def _outcome(dump: typing.Callable[[], typing.Any]) -> tuple[str, str]:
    try:
        return "ok", _text(dump())
    except Exception as error:  # both paths must fail the same way on a value they cannot take
        return "error", type(error).__name__


def _all_schemas() -> list[type[dumping.Schema]]:
    found: list[type[dumping.Schema]] = []
    pending = list(dumping.Schema.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


AWARE = dt.datetime(2026, 3, 1, 9, 30, 15, 120000, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _values(field: fields.Field, depth: int = 0) -> list[typing.Any]:
    """Values a field may be handed: the usual first, then odd ones."""
    if isinstance(field, fields.Nested):
        sample = _sample(field.schema, depth + 1) if depth < 3 else {}
        return [sample, None, types.SimpleNamespace(**sample), collections.OrderedDict(sample), {}]
    if isinstance(field, fields.List):
        inner = _values(field.inner, depth)
        return [inner[:1], [], inner, tuple(inner[:2]), None]
    if isinstance(field, fields.DateTime):
        return [AWARE, AWARE.replace(tzinfo=None), None]
    if isinstance(field, fields.Dict):
        return [{"a": 1, "b": {"c": [1, "二"]}}, {}, None, collections.OrderedDict(x=1)]
    if isinstance(field, fields.Boolean):
        return [True, False, None, 1, 0, "yes", "n", 2, [], 0.0]
    if isinstance(field, fields.Integer):
        return [3, None, True, 2.7, "4", -0]
    if isinstance(field, fields.Float):
        return [1.5, None, 2, True, "2.5", float("nan")]
    if isinstance(field, fields.String):
        return ["文本", None, 5, b"bytes", "", True]
    return [{"any": ["thing"]}, None, 1, "x"]


def _sample(schema: dumping.Schema, depth: int = 0) -> dict[str, typing.Any]:
    return {name: _values(field, depth)[0] for name, field in schema.dump_fields.items()}


def _variants(schema: dumping.Schema) -> typing.Iterator[typing.Any]:
    base = _sample(schema)
    yield base
    yield {**base, "not_a_field": 1, "items_extra": [1]}
    yield types.SimpleNamespace(**base)
    yield collections.OrderedDict(base)
    yield {}
    for name, field in schema.dump_fields.items():
        yield {key: value for key, value in base.items() if key != name}
        yield {**base, name: missing}
        for value in _values(field)[1:]:
            yield {**base, name: value}


def _check(schema: dumping.Schema, obj: typing.Any) -> None:
    planned = _outcome(lambda: schema.dump(obj))
    reference = _outcome(lambda: schema.dump(_marshmallow_only(obj)))
    assert planned == reference, (type(schema).__name__, obj)


@pytest.mark.parametrize("schema_class", _all_schemas(), ids=lambda cls: cls.__name__)
def test_planned_dump_equals_marshmallow_for_every_schema(schema_class):
    schema = schema_class()
    if not issubclass(schema_class, StrictSchema) and not schema_class.__name__.endswith("Args"):
        # A response schema (request bodies are StrictSchemas, query arguments *Args): every
        # field on the planned path, or responses lose the speed without anyone noticing.
        plan = dumping.plan_of(schema)
        assert plan is not None and all(convert for *_, convert in plan), "a field the plan cannot take"
    for obj in _variants(schema):
        _check(schema, obj)


class _Shout(fields.String):
    """A subclass of a field the plan knows: it must not be taken for its parent."""

    def _serialize(
        self, value: typing.Any, attr: typing.Any, obj: typing.Any, **kwargs: typing.Any
    ) -> typing.Any:
        return None if value is None else str(value).upper()


class _Inner(dumping.Schema):
    n = fields.Integer()


class _Unusual(dumping.Schema):
    """Every way a field may leave the plan: each must still dump as marshmallow does."""

    renamed = fields.String(data_key="renamedKey")
    source = fields.String(attribute="elsewhere")
    dotted = fields.String(attribute="outer.inner")
    defaulted = fields.Integer(dump_default=7)
    defaulted_callable = fields.List(fields.String(), dump_default=lambda: ["d"])
    secret = fields.String(load_only=True)
    computed = fields.Method("compute")
    constant = fields.Constant("c")
    many = fields.Nested(_Inner, many=True)
    listed = fields.List(fields.Nested(_Inner))
    plucked = fields.Pluck(_Inner, "n")
    shouted = _Shout()
    shouted_list = fields.List(_Shout())
    keyed = fields.Dict(keys=fields.String(), values=fields.Integer())
    when = fields.DateTime(format="%Y/%m/%d")
    stamp = fields.DateTime(format="timestamp")
    text_int = fields.Integer(as_string=True)
    yes_no = fields.Boolean(truthy={"ja"}, falsy={"nein"})
    # dict methods: marshmallow falls back to the attribute when the key is absent
    items = fields.Raw()
    keys = fields.Raw()

    def compute(self, obj: typing.Any) -> str:
        return f"computed from {sorted(obj)[:2]}"


class _Hooked(dumping.Schema):
    a = fields.String()

    @pre_dump
    def before(self, data: typing.Any, **_kwargs: typing.Any) -> typing.Any:
        return {**data, "a": "pre"}

    @post_dump
    def after(self, data: typing.Any, **_kwargs: typing.Any) -> typing.Any:
        return {**data, "b": "post"}


@pytest.mark.parametrize("schema", [_Unusual(), _Unusual(only=("renamed", "many")), _Hooked()])
def test_fields_the_plan_does_not_cover_dump_as_marshmallow_does(schema):
    full = {
        "renamed": "r",
        "elsewhere": "e",
        "outer": {"inner": "i"},
        "secret": "s",
        "many": [{"n": 1}, {"n": "2"}],
        "listed": [{"n": 3}, None],
        "plucked": {"n": 4},
        "shouted": "quiet",
        "shouted_list": ["a", None, 3],
        "keyed": {"a": "5"},
        "when": AWARE,
        "stamp": AWARE,
        "text_int": 6,
        "yes_no": "ja",
        "items": [1],
        "keys": "k",
        "a": "a",
    }
    _check(schema, full)
    _check(schema, {})
    for name in full:
        _check(schema, {key: value for key, value in full.items() if key != name})
    _check(schema, {**full, "yes_no": "nein"})
    _check(schema, {**full, "yes_no": True})
    _check(schema, {**full, "many": None, "listed": None, "plucked": None})
    assert _text(schema.dump([{"a": "x"}], many=True)) == _text(schema.dump([_Plain(a="x")], many=True))


def test_responses_of_a_whole_case_equal_marshmallow(api, monkeypatch):
    """Real engine data through every response of a lifecycle and the reads around it."""
    planned = dumping.Schema.dump
    checked: list[str] = []

    def checking(self, obj, *, many=None):
        result = planned(self, obj, many=many)
        assert _text(result) == _text(planned(self, _marshmallow_only(obj), many=many))
        checked.append(type(self).__name__)
        return result

    monkeypatch.setattr(dumping.Schema, "dump", checking)
    case = api.start(start_data(request="repair"))
    case = register(api, case)
    case = repair(api, case)
    task = api.open_task(case, "reply_to_customer")
    for path, user in (
        ("/api/v1/tasks", "li.na"),
        (f"/api/v1/tasks/{task['id']}", "li.na"),
        ("/api/v1/cases", "sun.li"),
        (f"/api/v1/cases/{case['id']}", "li.na"),
        (f"/api/v1/cases/{case['id']}", "wu.fang"),  # masked: someone who does not work the case
        (f"/api/v1/cases/{case['id']}/events", "sun.li"),
        (f"/api/v1/cases/{case['id']}/approvals", "sun.li"),
        (f"/api/v1/cases/{case['id']}/diagram", "sun.li"),
        (f"/api/v1/cases/{case['id']}/attachments", "sun.li"),
        ("/api/v1/approvals", "chen.jie"),
        ("/api/v1/processes", "zhou.hao"),
        ("/api/v1/processes/complaint", "zhou.hao"),
        ("/api/v1/me", "li.na"),
        ("/api/v1/health", None),
    ):
        assert api.get(path, user).status_code == 200, path
    api.post(f"/api/v1/tasks/{task['id']}/claim", "li.na")
    case = visit(api, reply(api, case), satisfied=True)
    assert case["status"] == "completed"
    assert {"CaseSchema", "TaskPageSchema", "TaskSchema", "CasePageSchema", "EventPageSchema"} <= set(checked)
