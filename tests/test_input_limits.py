"""Hostile request bodies, tried on every endpoint that changes something.

Each class of bad input (a lone surrogate or a NUL character in a value or a key, nesting
hundreds or thousands of levels deep, a string or a body over the documented limits) gets a
clear problem+json answer (never a 500), and the database is left exactly as it was: no case,
no event, no task changed.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from api.json_body import MAX_BODY_BYTES, MAX_DEPTH, MAX_KEY_CHARS, MAX_STRING_CHARS

from .flows import apply, register
from .support import auth, start_data


def snapshot(engine) -> dict:
    """Everything an act could change, in a comparable form."""
    with engine.db.unit_of_work(write=False) as uow:
        run = lambda sql: uow.session.execute(text(sql)).all()  # noqa: E731
        return {
            "cases": run("SELECT id, status, revision FROM cases ORDER BY id"),
            "events": run("SELECT count(*) FROM case_events"),
            "tasks": run("SELECT id, status, assignee FROM human_tasks ORDER BY id"),
            "approvals": run("SELECT count(*) FROM approvals"),
        }


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = {"x": value}
    return value


# name → (the value put into the body, the expected status, a fragment of the reason)
HOSTILE = {
    "surrogate-value": ("\ud800", 422, "surrogate"),
    "surrogate-low-value": ("ok \udfff ok", 422, "surrogate"),
    "surrogate-key": ({"\ud83d": "x"}, 422, "surrogate"),
    "nul-value": ("a\x00b", 422, "NUL"),
    "nul-key": ({"a\x00": 1}, 422, "NUL"),
    "nested-40": (nested(40), 422, "nested"),
    "nested-600": (nested(600), 422, "nested"),
    "long-string": ("长" * (MAX_STRING_CHARS + 1), 422, f"longer than {MAX_STRING_CHARS}"),
    "long-key": ({"k" * (MAX_KEY_CHARS + 1): 1}, 422, f"longer than {MAX_KEY_CHARS}"),
}


def encode(body) -> bytes:
    """JSON as a hostile client sends it: lone surrogates escaped as `\\ud800`."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


class Endpoints:
    """Every state-changing endpoint, each with a fresh target and a body holding `value`."""

    def __init__(self, api):
        self.api = api

    def prepare(self, name: str) -> tuple[str, str, Callable[[object], dict]]:
        api = self.api
        if name == "start":
            return "/api/v1/cases", "li.na", lambda v: {"process": "complaint", "data": start_data(note=v)}
        if name == "evaluate":
            return "/api/v1/decisions/sla_deadlines/evaluate", "zhou.hao", lambda v: {"inputs": {"p": v}}
        case = api.start()
        task = case["tasks"][0]
        if name == "complete":
            return f"/api/v1/tasks/{task['id']}/complete", "li.na", lambda v: {"data": {"note": v}}
        if name == "claim":
            api.post(f"/api/v1/tasks/{task['id']}/unclaim", "li.na")
            return f"/api/v1/tasks/{task['id']}/claim", "wu.fang", lambda v: {"note": v}
        if name == "unclaim":
            return f"/api/v1/tasks/{task['id']}/unclaim", "li.na", lambda v: {"note": v}
        if name == "cancel":
            return f"/api/v1/cases/{case['id']}/cancel", "sun.li", lambda v: {"reason": v}
        if name == "message":
            return (
                f"/api/v1/cases/{case['id']}/messages/customer_called_back",
                "li.na",
                lambda v: {"data": {"note": v}},
            )
        if name == "approval":
            case = apply(api, register(api, api.start(start_data(request="exchange"))))
            signoff = api.open_task(case, "manager_approval")
            return (
                f"/api/v1/approvals/{signoff['id']}",
                "chen.jie",
                lambda v: {"decision": "reject", "comment": v},
            )
        raise AssertionError(name)


WRITES = ["start", "complete", "claim", "unclaim", "cancel", "message", "approval", "evaluate"]


@pytest.mark.parametrize("endpoint", WRITES)
def test_hostile_values_are_refused_with_their_field_and_change_nothing(api, engine, endpoint):
    path, user, body_of = Endpoints(api).prepare(endpoint)
    before = snapshot(engine)
    for name, (value, status, reason) in HOSTILE.items():
        response = api.client.post(
            path, data=encode(body_of(value)), headers={**auth(user), "Content-Type": "application/json"}
        )
        assert response.status_code == status, (name, response.get_data(as_text=True)[:300])
        problem = response.get_json()
        assert response.content_type == "application/problem+json"
        messages = [m for found in problem["errors"].values() for m in found]
        assert any(reason in m for m in messages), (name, problem)
        # The answer is valid UTF-8 JSON even though the request was not valid Unicode.
        response.get_data().decode("utf-8")
        assert snapshot(engine) == before, name


@pytest.mark.parametrize("endpoint", WRITES)
def test_a_body_over_the_limit_is_refused_before_it_is_parsed(api, engine, endpoint):
    path, user, _ = Endpoints(api).prepare(endpoint)
    before = snapshot(engine)
    # Not even JSON: a 413, not a 400, shows the body was never parsed.
    oversized = b"{" + b" " * MAX_BODY_BYTES + b"}"
    response = api.client.post(
        path, data=oversized, headers={**auth(user), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["type"] == "/problems/payload-too-large"
    assert snapshot(engine) == before


@pytest.mark.parametrize("endpoint", WRITES)
def test_nesting_past_the_parsers_own_recursion_limit_is_a_422(api, engine, endpoint):
    path, user, _ = Endpoints(api).prepare(endpoint)
    before = snapshot(engine)
    for depth in (999, 5000, 100_000):
        body = b'{"data": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
        response = api.client.post(
            path, data=body, headers={**auth(user), "Content-Type": "application/json"}
        )
        assert response.status_code == 422, depth
        assert "nested" in json.dumps(response.get_json()["errors"])
    assert snapshot(engine) == before
    # Nesting within the limit is still data like any other.
    body = {"inputs": {"priority": "urgent", "extra": nested(MAX_DEPTH - 3)}}
    response = api.post("/api/v1/decisions/sla_deadlines/evaluate", "zhou.hao", json=body)
    assert response.status_code == 200, response.get_json()


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(live_server):
    url = urlparse(live_server)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("POST", "/api/v1/cases")
    connection.putheader("Authorization", auth("li.na")["Authorization"])
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b" " * 65536
    for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


def test_the_error_handler_itself_survives_a_surrogate_echoed_in_a_message(api):
    # An unknown field is named in the error; its name holds a surrogate the answer must escape.
    # (The body check refuses it first; this is the path a schema error would take.)
    from api.errors import problem

    with api.client.application.test_request_context():
        response = problem(422, "Validation failed", errors={"\ud800": ["Unknown field."]})
    assert json.loads(response.get_data().decode("utf-8"))["errors"] == {"\ud800": ["Unknown field."]}


@pytest.mark.parametrize("amount", ["1200", "1e3", "0", " 5 ", "1200.50"])
def test_numbers_sent_as_strings_are_refused(api, engine, amount):
    case = apply(api, register(api, api.start(start_data(request="exchange"))))
    signoff = api.open_task(case, "manager_approval")
    before = snapshot(engine)
    response = api.post(
        f"/api/v1/approvals/{signoff['id']}",
        "chen.jie",
        json={"decision": "approve", "approved_amount": amount},
    )
    assert response.status_code == 422
    assert "approved_amount" in response.get_json()["errors"]
    assert snapshot(engine) == before


@pytest.mark.parametrize("part", ["customer", "product", "problem"])
def test_extra_fields_of_the_start_forms_fixed_objects_are_bounded(api, engine, part):
    before = snapshot(engine)
    too_long = start_data(**{part: {"remark": "x" * 501}})
    response = api.post("/api/v1/cases", "li.na", json={"process": "complaint", "data": too_long})
    assert response.status_code == 422
    assert f"{part}.remark" in response.get_json()["errors"]
    too_many = start_data(**{part: {f"extra_{i}": "x" for i in range(25)}})
    response = api.post("/api/v1/cases", "li.na", json={"process": "complaint", "data": too_many})
    assert response.status_code == 422
    nested_extra = start_data(**{part: {"remark": {"deep": "x"}}})
    response = api.post("/api/v1/cases", "li.na", json={"process": "complaint", "data": nested_extra})
    assert response.status_code == 422
    assert snapshot(engine) == before
    # A short extra value is still accepted, and kept.
    case = api.start(start_data(**{part: {"remark": "备注"}}))
    assert case["data"][part]["remark"] == "备注"


def test_each_field_error_is_listed_once(api):
    from api.errors import problem

    with api.client.application.test_request_context():
        response = problem(422, "Validation failed", errors={"a": ["is required", "is required", "x"]})
    assert json.loads(response.get_data())["errors"] == {"a": ["is required", "x"]}


# ---- the class, not the examples: any JSON with one bad string anywhere

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=5))
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
bad_strings = st.one_of(
    st.builds(
        lambda a, s, b: a + chr(s) + b, st.text(max_size=3), st.integers(0xD800, 0xDFFF), st.text(max_size=3)
    ),
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=3), st.text(max_size=3)),
)


def plant(value, bad: str, as_key: bool, choice: int):
    """Put `bad` somewhere in `value` (as a key or a value), at a place chosen by `choice`."""
    containers = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            containers.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    if not containers:
        return {bad: 1} if as_key else bad
    target = containers[choice % len(containers)]
    if isinstance(target, dict):
        if as_key:
            target[bad] = 1
        else:
            target["planted"] = bad
    else:
        target.append({bad: 1} if as_key else bad)
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values, bad=bad_strings, as_key=st.booleans(), choice=st.integers(0, 100))
def test_a_bad_string_anywhere_in_start_data_is_a_422_and_starts_nothing(
    api, engine, value, bad, as_key, choice
):
    before = snapshot(engine)
    data = start_data(extra=plant(value, bad, as_key, choice))
    response = api.client.post(
        "/api/v1/cases",
        data=encode({"process": "complaint", "data": data}),
        headers={**auth("li.na"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert snapshot(engine) == before
