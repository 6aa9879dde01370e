"""A repeat complaint links back to the case it repeats (`links` in `GET /api/v1/cases/{id}`).

Driven through the real complaint process on both databases; the clock is moved with
time-machine across the three-calendar-month window, never slept through.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from .flows import register, reply, visit
from .support import start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")


def close_inquiry(api, customer_id: str, issue: str) -> dict:
    data = start_data(
        customer={"id": customer_id},
        problem={"category": "inquiry", "issue_code": issue, "description": "问"},
    )
    case = register(api, api.start(data))
    case = api.complete(case, "answer_inquiry", "li.na", {"answer_summary": "已解答"})
    case = visit(api, reply(api, case))
    assert case["status"] == "completed"
    return case


def at(year: int, month: int, day: int, hour: int = 10):
    return time_machine.travel(datetime(year, month, day, hour, 0, tzinfo=SHANGHAI), tick=True)


def test_a_repeat_links_to_the_latest_closed_case_it_repeats_and_that_case_links_back(api):
    with at(2026, 8, 25):
        older = close_inquiry(api, "C-9", "EB200-LIGHT")
    with at(2026, 9, 10):
        latest = close_inquiry(api, "C-9", "EB200-LIGHT")
    with at(2026, 11, 20):
        again = api.start(start_data(customer={"id": "C-9"}, problem={"issue_code": "EB200-LIGHT"}))
    assert "repeat" in again["data"]["urgent_kinds"]
    expected = [{"case_id": latest["id"], "business_key": latest["business_key"], "kind": "repeat_of"}]
    assert again["links"] == expected
    assert api.case(again["id"])["links"] == expected
    # Read from the other end, the link says who repeated it; the chain stays walkable.
    assert api.case(latest["id"])["links"] == [
        {"case_id": older["id"], "business_key": older["business_key"], "kind": "repeat_of"},
        {"case_id": again["id"], "business_key": again["business_key"], "kind": "repeated_by"},
    ]
    assert api.case(older["id"])["links"] == [
        {"case_id": latest["id"], "business_key": latest["business_key"], "kind": "repeated_by"}
    ]


def test_no_link_when_it_is_no_repeat(api):
    with at(2026, 8, 19):
        old = close_inquiry(api, "C-11", "EB200-LIGHT")
    with at(2026, 11, 20):
        too_late = api.start(start_data(customer={"id": "C-11"}, problem={"issue_code": "EB200-LIGHT"}))
        other_issue = api.start(start_data(customer={"id": "C-11"}, problem={"issue_code": "EB200-SEAT"}))
        other_customer = api.start(start_data(customer={"id": "C-12"}, problem={"issue_code": "EB200-LIGHT"}))
        open_one = api.start(start_data(customer={"id": "C-13"}, problem={"issue_code": "EB200-BELL"}))
        beside_open = api.start(start_data(customer={"id": "C-13"}, problem={"issue_code": "EB200-BELL"}))
    for case in (too_late, other_issue, other_customer, open_one, beside_open):
        assert case["links"] == [], case["business_key"]
    assert api.case(old["id"])["links"] == []
