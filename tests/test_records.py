"""Records that tell the truth: who the clock is, what an escalation is called, what time it is.

- Events the clock fired (`timer_fired`, `sla_breached`) are the system's, also when a person's
  act is what noticed the deadline had passed.
- Every escalation carries its name.
- Every time in every response is ISO 8601 with the service's offset (+08:00 here).
- `/metrics` names its content type once.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from .flows import apply, register, repair
from .support import start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def clock_events(api, case_id: str) -> list[dict]:
    return [e for e in api.events(case_id) if e["type"] in ("timer_fired", "sla_breached")]


def test_a_deadline_noticed_by_a_persons_act_is_recorded_as_the_systems(api, engine, clock):
    case = register(api, api.start(user="li.na"))
    idle = api.start(user="li.na")
    clock.shift(timedelta(hours=48, seconds=1))
    # No worker ran: the technician's act is the first to see that the reply deadline passed.
    repair(api, case)
    fired = clock_events(api, case["id"])
    assert {e["type"] for e in fired} == {"timer_fired", "sla_breached"}
    assert {e["actor"] for e in fired} == {"system"}
    completed = [e for e in api.events(case["id"]) if e["type"] == "task_completed"]
    assert [e["actor"] for e in completed] == ["li.na", "wang.qiang"]
    # The worker's firing is the system's too.
    assert engine.timers.fire_due() >= 1
    fired = clock_events(api, idle["id"])
    assert fired and {e["actor"] for e in fired} == {"system"}


@pytest.mark.parametrize(
    ("hours", "clock_name", "name"),
    [
        (24, "acknowledge", "受理回应超时 Acknowledgement deadline passed"),
        (48, "reply", "答复客户超时 Reply deadline passed"),
    ],
)
def test_every_escalation_carries_its_name(api, engine, clock, hours, clock_name, name):
    case = api.start(user="li.na")
    if clock_name == "reply":
        case = register(api, case)
    clock.shift(timedelta(hours=hours, seconds=1))
    engine.timers.fire_due()
    escalations = api.case(case["id"], "li.na")["escalations"]
    assert [(e["clock"], e["name"]) for e in escalations if e["clock"] == clock_name] == [(clock_name, name)]


def test_a_sign_off_escalation_is_named(api, engine, clock):
    case = apply(api, register(api, api.start(start_data(request="exchange"), user="li.na")))
    clock.shift(timedelta(days=7))
    engine.timers.fire_due()
    names = {e["clock"]: e["name"] for e in api.case(case["id"], "li.na")["escalations"]}
    assert names.get("sign_off") == "审批超时 Sign-off deadline passed"


def moments(value, path=""):
    """Every string in a response that looks like a moment, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from moments(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from moments(item, f"{path}.{index}")
    elif isinstance(value, str) and MOMENT.match(value):
        yield path, value


def test_every_time_in_every_response_carries_the_services_offset(api, engine, clock):
    case = repair(api, register(api, api.start(user="li.na")))
    clock.shift(timedelta(hours=49))
    engine.timers.fire_due()
    # A case the worker could not run: its error records when (stored in UTC by the worker).
    other = api.start(user="li.na")
    with engine.db.unit_of_work(write=True) as uow:
        uow.session.execute(
            text("UPDATE cases SET status = 'error', error = :e WHERE id = :i"),
            {
                "e": '{"message": "boom", "element_id": null, "at": "2026-11-18T11:00:00+00:00"}',
                "i": other["id"],
            },
        )
    responses = {
        "case": api.get(f"/api/v1/cases/{case['id']}", "li.na"),
        "error case": api.get(f"/api/v1/cases/{other['id']}", "li.na"),
        "events": api.get(f"/api/v1/cases/{case['id']}/events?per_page=200", "li.na"),
        "cases": api.get("/api/v1/cases", "li.na"),
        "search": api.get("/api/v1/cases?q=C-1001", "li.na"),
        "tasks": api.get("/api/v1/tasks?mine=true", "li.na"),
        "processes": api.get("/api/v1/processes/complaint", "li.na"),
    }
    found = []
    for name, response in responses.items():
        assert response.status_code == 200, name
        for path, value in moments(response.get_json()):
            found.append((name, path, value))
    assert found
    wrong = [(name, path, value) for name, path, value in found if not value.endswith("+08:00")]
    # Plain dates (`purchase_date`) are not moments; every moment ends with the offset.
    assert wrong == []
    error = api.get(f"/api/v1/cases/{other['id']}", "li.na").get_json()["error"]
    assert error["at"] == "2026-11-18T19:00:00+08:00"
    fired = [e for e in responses["events"].get_json()["items"] if e["type"] == "timer_fired"]
    assert fired and all(e["detail"]["due_at"].endswith("+08:00") for e in fired)


def test_metrics_content_type_is_sent_once(api):
    response = api.get("/metrics", "sun.li")
    assert response.status_code == 200
    content_type = response.headers["Content-Type"]
    assert content_type.count("charset") == 1, content_type
    assert content_type.startswith("text/plain; version=")
