"""SLA clocks of DOMAIN.md §3: each fires at its deadline and not before, once, and escalates.

Time is moved with time-machine; the worker's step (`engine.timers.fire_due`) is called as the
background worker would call it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event

from api import create_app
from engine import sandbox
from engine.calendar import utc_now
from engine.config import EngineConfig
from engine.core import Engine

from .flows import apply, register, repair, reply
from .probes import timer_then_script
from .support import ServiceClient, start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def escalated_clocks(case: dict) -> list[str]:
    return [e["clock"] for e in case["escalations"]]


def test_acknowledgement_deadline_fires_at_24_hours_not_before(api, engine, clock):
    case = api.start(user="callcentre")
    assert case["timers"][0]["due_at"] == "2026-11-17T10:00:00+08:00"
    clock.shift(timedelta(hours=24) - SECOND)
    assert engine.timers.fire_due() == 0
    assert api.case(case["id"])["escalations"] == []
    clock.shift(2 * SECOND)
    assert engine.timers.fire_due() == 1
    after = api.case(case["id"])
    assert escalated_clocks(after) == ["acknowledge"]
    assert api.open_elements(after) == ["chase_acknowledgement", "register_complaint"]
    chase = api.open_task(after, "chase_acknowledgement")
    assert chase["candidate_group"] == "supervisors"
    types = api.event_types(case["id"])
    assert types.count("timer_fired") == 1 and types.count("sla_breached") == 1
    breach = next(e for e in api.events(case["id"]) if e["type"] == "sla_breached")
    assert breach["detail"] == {"clock": "acknowledge"} and breach["actor"] == "system"
    assert engine.timers.fire_due() == 0  # nothing fires twice
    assert api.event_types(case["id"]).count("timer_fired") == 1


def test_urgent_acknowledgement_deadline_is_two_hours(api, engine, clock):
    case = api.start(start_data(flags={"media_attention": True}), user="callcentre")
    clock.shift(timedelta(hours=2) + SECOND)
    engine.timers.fire_due()
    assert escalated_clocks(api.case(case["id"])) == ["acknowledge"]


def test_a_deadline_met_in_time_creates_no_escalation(api, engine, clock):
    case = api.start()
    clock.shift(timedelta(hours=1))
    register(api, case)
    clock.shift(timedelta(hours=30))
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "acknowledge" not in escalated_clocks(after)
    assert "sla_breached" not in api.event_types(case["id"])


def test_reply_deadline_is_48_hours_from_receipt(api, engine, clock):
    case = register(api, api.start())
    timers = {t["name"]: t["due_at"] for t in api.case(case["id"])["timers"]}
    assert timers["答复超时 Reply deadline passed"] == "2026-11-18T10:00:00+08:00"
    clock.shift(timedelta(hours=48) - SECOND)
    engine.timers.fire_due()
    assert "reply" not in escalated_clocks(api.case(case["id"]))
    clock.shift(2 * SECOND)
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "reply" in escalated_clocks(after)
    assert "chase_reply" in api.open_elements(after)


def test_replying_in_time_stops_the_reply_clock_and_the_progress_updates(api, engine, clock):
    case = register(api, api.start())
    case = reply(api, repair(api, case))
    clock.shift(timedelta(days=3))
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "reply" not in escalated_clocks(after)
    assert api.open_elements(after) == ["follow_up_visit"]
    assert [t["name"] for t in after["timers"]] == ["回访超时 Visit overdue"]


def test_the_customer_is_kept_informed_every_24_hours_while_open(api, engine, clock):
    case = register(api, api.start())
    clock.shift(timedelta(hours=24) + SECOND)
    engine.timers.fire_due()
    after = api.case(case["id"])
    update = api.open_task(after, "update_customer")
    assert update["assignee"] == "li.na"  # the first-contact owner
    after = api.complete(after, "update_customer", "li.na", {"progress_note": "配件已到，明天上门"})
    clock.shift(timedelta(hours=24) + SECOND)
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "update_customer" in api.open_elements(after)
    # The reply ends the updates, even the reminder that is open.
    after = reply(api, repair(api, after))
    assert "update_customer" not in api.open_elements(after)
    clock.shift(timedelta(hours=25))
    engine.timers.fire_due()
    assert "update_customer" not in api.open_elements(api.case(case["id"]))


def test_follow_up_visit_due_within_seven_days_of_the_reply(api, engine, clock):
    case = reply(api, repair(api, register(api, api.start())))
    assert api.open_task(case, "follow_up_visit")["due_at"] == "2026-11-23T10:00:00+08:00"
    clock.shift(timedelta(days=7) + SECOND)
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert escalated_clocks(after)[-1] == "follow_up"
    assert "chase_follow_up" in api.open_elements(after)


def _at_sign_off(api, start: datetime, clock, **start_changes):
    clock.move_to(start)
    case = register(api, api.start(start_data(request="exchange", **start_changes)))
    return apply(api, case, remedy="exchange")


def test_sign_off_deadline_is_two_working_days_across_national_day(api, engine, clock):
    case = _at_sign_off(api, datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI), clock)
    task = api.open_task(case, "manager_approval")
    assert task["due_at"] == "2026-10-09T10:00:00+08:00"
    clock.move_to(datetime(2026, 10, 9, 9, 59, tzinfo=SHANGHAI))
    engine.timers.fire_due()
    assert "sign_off" not in escalated_clocks(api.case(case["id"]))
    clock.move_to(datetime(2026, 10, 9, 10, 0, 1, tzinfo=SHANGHAI))
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "sign_off" in escalated_clocks(after)
    open_now = api.open_elements(after)
    # Escalated to the supervisors and to the general managers; the manager can still decide.
    assert {"chase_manager_signoff", "overdue_signoff_notice", "manager_approval"} <= set(open_now)
    assert api.open_task(after, "overdue_signoff_notice")["candidate_group"] == "general_managers"


def test_urgent_sign_off_deadline_is_one_working_day_and_a_调休_saturday_counts(api, engine, clock):
    case = _at_sign_off(api, datetime(2026, 10, 9, 15, 0, tzinfo=SHANGHAI), clock, flags={"upgraded": True})
    assert case["priority"] == "urgent"
    assert api.open_task(case, "manager_approval")["due_at"] == "2026-10-10T15:00:00+08:00"


def test_restart_then_the_timer_fires_once(database_url, directory, clock):
    first = Engine(EngineConfig(database_url=database_url), directory)
    case = ServiceClient(create_app(first, directory).test_client()).start(user="callcentre")
    first.close()
    del first  # every engine object gone: caches, sessions, the parsed specs

    clock.shift(timedelta(days=2))
    second = Engine(EngineConfig(database_url=database_url), directory)
    assert second.timers.fire_due() == 1
    assert second.timers.fire_due() == 0
    second.close()

    third = Engine(EngineConfig(database_url=database_url), directory)  # and once more
    assert third.timers.fire_due() == 0
    api = ServiceClient(create_app(third, directory).test_client())
    fired = [e for e in api.events(case["id"]) if e["type"] == "timer_fired"]
    assert [e["detail"]["element_id"] for e in fired] == ["acknowledgement_overdue"]
    assert escalated_clocks(api.case(case["id"])) == ["acknowledge"]
    third.close()


def test_cases_list_their_pending_timers(api):
    case = register(api, api.start())
    names = sorted(t["name"] for t in api.case(case["id"])["timers"])
    assert names == ["到告知时间 Update due", "答复超时 Reply deadline passed"]


def test_timer_metrics_are_exported(api, engine, clock):
    api.start(user="callcentre")
    clock.shift(timedelta(hours=25))
    engine.timers.fire_due()
    text = api.get("/metrics", "sun.li").get_data(as_text=True)
    assert "complaints_timers_fired_total 1.0" in text
    assert 'complaints_sla_breaches_total{clock="acknowledge"} 1.0' in text
    assert "complaints_timer_lateness_seconds_count 1.0" in text
    assert 'complaints_cases{status="running"} 1.0' in text


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param(
            "n = 0\nfor a in range(999):\n    for b in range(999):\n        for c in range(999):\n            n = n + 1",
            "ran longer than 0.2 s",
            id="time-budget",
        ),
        pytest.param(
            "x = 3 ** 2000\nfor i in range(40):\n    x = x * x",
            "the result of * would be too large",
            id="size",
        ),
        pytest.param("r = (i for i in [1])", "it holds a generator", id="not-data"),
    ],
)
def test_a_case_that_fails_the_same_way_every_time_is_not_retried(
    api, engine, directory, clock, monkeypatch, script, reason
):
    """A sandbox limit is deterministic: the worker records it once and leaves the case to people."""
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    engine.deployments.deploy(
        directory.users["zhou.hao"], {"probe_limit.bpmn": timer_then_script("probe_limit", '"PT1M"', script)}
    )
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_limit", "data": {}})
    assert response.status_code == 201, response.get_json()
    case_id = response.get_json()["id"]
    clock.shift(timedelta(minutes=1, seconds=1))
    started = time.monotonic()
    assert engine.timers.fire_due() == 1
    assert time.monotonic() - started < 5
    broken = api.case(case_id)
    assert broken["status"] == "error"
    assert broken["error"]["element_id"] == "after_wait"
    assert reason in broken["error"]["message"]
    assert broken["error"]["retryable"] is False
    # An hour of the worker's backoff schedule, and a day: nothing runs the case again.
    for step in [2, 4, 8, 16, 32, 64, 128, 256, 3600, 86400]:
        clock.shift(timedelta(seconds=step))
        assert engine.timers.fire_due() == 0
        assert engine.timers.due_case_ids(utc_now()) == []
    types = api.event_types(case_id)
    assert types.count("case_error") == 1 and "case_retried" not in types
    assert api.case(case_id)["status"] == "error"


def test_a_batch_of_slow_cases_does_not_hold_the_writer_for_each_of_them(
    api, engine, directory, clock, monkeypatch
):
    """Five due cases that each spend their whole budget: no write transaction lasts for all five."""
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    slow = "n = 0\nfor a in range(999):\n    for b in range(999):\n        for c in range(999):\n            n = n + 1"
    engine.deployments.deploy(
        directory.users["zhou.hao"], {"probe_slow.bpmn": timer_then_script("probe_slow", '"PT1M"', slow)}
    )
    ids = [
        api.post("/api/v1/cases", "li.na", json={"process": "probe_slow", "data": {}}).get_json()["id"]
        for _ in range(5)
    ]
    clock.shift(timedelta(minutes=1, seconds=1))
    began: list[float] = []
    lasted: list[float] = []
    write_engine = engine.ctx.db.write_engine
    # The budget is CPU time (engine/budget.py), so each transaction is measured in the CPU time of
    # the thread that runs it: on a loaded machine the wall clock would count other processes too.
    on_begin = lambda _conn: began.append(time.thread_time())  # noqa: E731
    on_commit = lambda _conn: lasted.append(time.thread_time() - began[-1])  # noqa: E731
    event.listen(write_engine, "begin", on_begin)
    event.listen(write_engine, "commit", on_commit)
    try:
        assert engine.timers.fire_due() == 5
    finally:
        event.remove(write_engine, "begin", on_begin)
        event.remove(write_engine, "commit", on_commit)
    assert {api.case(case_id)["status"] for case_id in ids} == {"error"}
    # Each case spends 0.2 s; a batch stops taking cases after 0.2 s: at most two per transaction.
    assert max(lasted) < 0.8, lasted
