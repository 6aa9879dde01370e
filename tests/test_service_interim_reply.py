"""A pending service investigation gets an interim reply with a plan in time (DOMAIN.md §3, issue 13.5).

The service path (`investigate_service`, after-sales leads) may not finish within the reply
deadline. In complaint_handling.bpmn a non-interrupting timer on the investigation fires at the
reply deadline minus `interim_margin_hours` (sla_deadlines.dmn: 12 h ordinary, 6 h urgent) and gives
the owner `service_interim_reply` (the interim-reply form); sending it meets the reply clock, the
final reply still follows the investigation. Driven through the real diagrams over HTTP, with the
clock moved by time-machine: a complaint received Monday 10:00 is due a reply Wednesday 10:00, so
the interim reply is asked for on Tuesday at 22:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import PLAN, register, reply, visit
from .support import ServiceClient, start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)
REPLY_DUE = "2026-11-18T10:00:00+08:00"  # 48 h after receipt
INTERIM_AT = "2026-11-17T22:00:00+08:00"  # 12 h before it
INTERIM_TIMER = "调查未完，答复方案 Still pending: reply with a plan"
FINDINGS = {"cause_confirmed": True, "staff_action": "通报批评", "notice_issued": True}
SERVICE_PLAN = {**PLAN, "plan_steps": ["核实服务经过", "处理相关人员", "答复处理结果"]}


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def service_case(api: ServiceClient) -> dict:
    data = start_data(
        problem={"category": "service_attitude", "issue_code": "SVC-RUDE", "description": "服务人员态度恶劣"},
        request="other",
    )
    case = register(api, api.start(data))
    assert api.open_elements(case) == ["investigate_service"]
    return case


def work(case: dict) -> list[str]:
    """The open tasks, without the progress updates the update clock adds every 24 hours."""
    return sorted(t["element_id"] for t in case["tasks"] if t["element_id"] != "update_customer")


def escalated_clocks(case: dict) -> list[str]:
    return [e["clock"] for e in case["escalations"]]


def advance(clock, engine, api: ServiceClient, case: dict, by: timedelta) -> dict:
    clock.shift(by)
    engine.timers.fire_due()
    return api.case(case["id"])


def test_a_slow_investigation_asks_for_an_interim_reply_that_meets_the_reply_clock(api, engine, clock):
    case = service_case(api)
    timers = {t["name"]: t["due_at"] for t in case["timers"]}
    assert timers[INTERIM_TIMER] == INTERIM_AT
    # The investigation stays due by the reply deadline; the interim point is only a reminder.
    assert api.open_task(case, "investigate_service")["due_at"] == REPLY_DUE

    case = advance(clock, engine, api, case, timedelta(hours=36) - SECOND)
    assert work(case) == ["investigate_service"]  # not yet
    case = advance(clock, engine, api, case, 2 * SECOND)
    assert work(case) == ["investigate_service", "service_interim_reply"]
    task = api.open_task(case, "service_interim_reply")
    assert task["assignee"] == "li.na" and task["due_at"] == REPLY_DUE
    refused = api.complete(
        case, "service_interim_reply", "li.na", {"interim_reply_text": "正在核实"}, expect=422
    )
    assert set(refused.get_json()["errors"]) == {"plan_steps", "plan_due"}

    clock.shift(timedelta(hours=2))
    case = api.complete(case, "service_interim_reply", "li.na", SERVICE_PLAN)
    assert work(case) == ["investigate_service"]  # the investigation goes on
    case = advance(clock, engine, api, case, timedelta(hours=10) + SECOND)  # past the reply deadline
    assert "reply" not in escalated_clocks(case)
    assert "chase_reply" not in work(case)

    # The final reply follows the investigation's outcome.
    case = api.complete(case, "investigate_service", "zhao.min", FINDINGS)
    assert work(case) == ["reply_to_customer"]
    case = visit(api, reply(api, case, text="已核实并处理相关人员"))
    assert case["status"] == "completed"
    record = case["data"]["rounds"][0]
    assert record["interim_reply"]["steps"] == ["核实服务经过", "处理相关人员", "答复处理结果"]
    assert record["interim_reply"]["at"] == "2026-11-18T00:00:01+08:00"
    assert record["staff_action"] == "通报批评" and record["reply"]["text"] == "已核实并处理相关人员"
    assert escalated_clocks(api.case(case["id"])) == []


def test_an_investigation_finished_early_asks_for_no_interim_reply(api, engine, clock):
    case = service_case(api)
    clock.shift(timedelta(hours=5))
    case = api.complete(case, "investigate_service", "zhao.min", FINDINGS)
    assert INTERIM_TIMER not in {t["name"] for t in case["timers"]}
    case = advance(clock, engine, api, case, timedelta(hours=35))  # Tuesday 22:00 passes
    assert work(case) == ["reply_to_customer"]
    case = visit(api, reply(api, case))
    assert case["data"]["rounds"][0]["interim_reply"] is None
    assert escalated_clocks(api.case(case["id"])) == []


def test_without_the_interim_reply_the_pending_investigation_breaches_the_reply_clock(api, engine, clock):
    case = service_case(api)
    case = advance(clock, engine, api, case, timedelta(hours=36) + SECOND)
    assert "service_interim_reply" in work(case)
    case = advance(clock, engine, api, case, timedelta(hours=12))  # past the reply deadline, no plan sent
    assert escalated_clocks(case) == ["reply"]
    assert work(case) == ["chase_reply", "investigate_service", "service_interim_reply"]
    # The final reply sent at last withdraws the interim reply; the round ends as usual.
    case = api.complete(case, "investigate_service", "zhao.min", FINDINGS)
    case = reply(api, case)
    assert "service_interim_reply" not in work(case)
    case = api.complete(case, "chase_reply", "sun.li", {"action_taken": "已督办"})
    case = visit(api, case)
    assert case["status"] == "completed"
    assert case["data"]["rounds"][0]["interim_reply"] is None


def test_an_upgrade_brings_the_interim_reply_forward(api, engine, clock):
    """Urgent: reply within 24 h of receipt, the interim reply 6 h before that (sla_deadlines.dmn)."""
    case = service_case(api)
    clock.shift(timedelta(hours=1))
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/complaint_upgraded",
        "sun.li",
        json={"data": {"kind": "upgraded", "note": "客户投诉到分公司"}},
    )
    assert response.status_code == 200, response.get_json()
    case = response.get_json()
    timers = {t["name"]: t["due_at"] for t in case["timers"]}
    assert timers[INTERIM_TIMER] == "2026-11-17T04:00:00+08:00"
    assert api.open_task(case, "investigate_service")["due_at"] == "2026-11-17T10:00:00+08:00"
    case = advance(clock, engine, api, case, timedelta(hours=17) + SECOND)
    assert "service_interim_reply" in work(case)


def test_a_compensation_found_after_the_interim_reply_asks_for_a_new_plan(api, engine, clock):
    """The investigation, once the plan was sent, leads to a compensation application: that path's
    interim reply (the new steps) is asked for too, and the reply clock stays met."""
    case = advance(clock, engine, api, service_case(api), timedelta(hours=36) + SECOND)
    case = api.complete(case, "service_interim_reply", "li.na", SERVICE_PLAN)
    case = api.complete(case, "investigate_service", "zhao.min", {**FINDINGS, "compensation_requested": True})
    assert work(case) == ["fill_application", "interim_reply"]
    case = advance(clock, engine, api, case, timedelta(hours=12))  # past the reply deadline
    assert escalated_clocks(case) == []
