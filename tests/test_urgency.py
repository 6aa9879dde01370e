"""Classification when a case starts: every urgent kind of DOMAIN.md §2, at its thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import register, reply, visit
from .support import start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")


def kinds(case: dict) -> list[str]:
    return case["data"]["urgent_kinds"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"flags": {"media_attention": True}}, ["major"]),
        ({"flags": {"litigation_risk": True}}, ["major"]),
        ({"channel": "media"}, ["major", "over_level"]),
        ({"channel": "government"}, ["major", "over_level"]),
        ({"channel": "hq"}, ["over_level"]),
        ({"channel": "consumer_association"}, ["over_level"]),
        ({"channel": "regulator"}, ["over_level"]),
        ({"flags": {"upgraded": True}}, ["upgraded"]),
        ({"flags": {"cross_region": True}}, ["cross_region"]),
        ({"customer": {"tier": "important"}}, ["important_customer"]),
        ({"customer": {"tier": "sensitive"}}, ["sensitive_customer"]),
        ({"problem": {"category": "sudden_incident"}}, ["sudden_incident"]),
        ({"channel": "online", "customer": {"tier": "vip"}}, []),
    ],
)
def test_each_urgent_kind(api, changes, expected):
    case = api.start(start_data(**changes))
    assert kinds(case) == expected
    assert case["priority"] == ("urgent" if expected else "ordinary")


def test_urgent_cases_get_the_shorter_deadlines(api):
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI), tick=False):
        urgent = api.start(start_data(flags={"media_attention": True}))
        ordinary = api.start(start_data(customer={"id": "C-2"}))
    assert urgent["timers"][0]["due_at"] == "2026-11-20T12:00:00+08:00"
    assert ordinary["timers"][0]["due_at"] == "2026-11-21T10:00:00+08:00"
    assert urgent["data"]["reply_hours"] == 24 and ordinary["data"]["reply_hours"] == 48
    assert api.open_task(urgent, "register_complaint")["due_at"] == "2026-11-20T12:00:00+08:00"


def test_several_kinds_fire_together(api):
    case = api.start(
        start_data(channel="regulator", customer={"tier": "important"}, flags={"cross_region": True})
    )
    assert kinds(case) == ["over_level", "cross_region", "important_customer"]


def _batch(api, tier: str, count: int, issue: str, prefix: str | None = None) -> list[dict]:
    return [
        api.start(
            start_data(customer={"id": f"{prefix or tier}-{i}", "tier": tier}, problem={"issue_code": issue}),
            user="callcentre",
        )
        for i in range(count)
    ]


def test_batch_ten_ordinary_customers_is_not_yet_batch_the_eleventh_is(api):
    cases = _batch(api, "ordinary", 10, "EB200-BRAKE")
    assert all("batch" not in kinds(c) for c in cases)
    assert cases[-1]["data"]["facts"]["batch_ordinary_complaints"] == 10
    eleventh = api.start(start_data(customer={"id": "ordinary-10"}, problem={"issue_code": "EB200-BRAKE"}))
    assert kinds(eleventh) == ["batch"] and eleventh["priority"] == "urgent"


def test_batch_five_vip_customers_is_not_yet_batch_the_sixth_is(api):
    cases = _batch(api, "vip", 5, "EB300-MOTOR")
    assert all("batch" not in kinds(c) for c in cases)
    sixth = api.start(
        start_data(customer={"id": "vip-5", "tier": "vip"}, problem={"issue_code": "EB300-MOTOR"})
    )
    assert kinds(sixth) == ["batch"]


def test_batch_counts_complaints_of_ordinary_customers_and_only_the_same_issue_within_the_hour(api):
    start = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        for _ in range(3):  # the same customer three times: three complaints (宗)
            api.start(start_data(customer={"id": "same"}, problem={"issue_code": "EB400"}), user="callcentre")
        _batch(api, "ordinary", 5, "EB400")
        _batch(api, "ordinary", 9, "OTHER")
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        later = _batch(api, "ordinary", 2, "EB400", prefix="late")
    assert later[-1]["data"]["facts"]["batch_ordinary_complaints"] == 10
    assert "batch" not in kinds(later[-1])
    with time_machine.travel(start + timedelta(minutes=59, seconds=30), tick=False):
        eleventh = api.start(start_data(customer={"id": "eleventh"}, problem={"issue_code": "EB400"}))
    assert kinds(eleventh) == ["batch"]
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        after_the_hour = api.start(start_data(customer={"id": "next"}, problem={"issue_code": "EB400"}))
    assert after_the_hour["data"]["facts"]["batch_ordinary_complaints"] == 4  # the first eight are out
    assert "batch" not in kinds(after_the_hour)


def test_batch_counts_distinct_vip_tier_customers_vip_important_and_sensitive_alike(api):
    tiers = ["vip", "important", "sensitive", "vip", "important"]
    for index, tier in enumerate(tiers):
        api.start(
            start_data(customer={"id": f"V-{index}", "tier": tier}, problem={"issue_code": "EB500"}),
            user="callcentre",
        )
    # The same VIP customer again is still five customers.
    again = api.start(start_data(customer={"id": "V-0", "tier": "vip"}, problem={"issue_code": "EB500"}))
    assert again["data"]["facts"]["batch_vip_customers"] == 5 and "batch" not in kinds(again)
    sixth = api.start(
        start_data(customer={"id": "V-5", "tier": "sensitive"}, problem={"issue_code": "EB500"})
    )
    assert sixth["data"]["facts"]["batch_vip_customers"] == 6
    assert "batch" in kinds(sixth)
    assert sixth["data"]["facts"]["batch_ordinary_complaints"] == 0


def _close_inquiry(api, customer_id: str, issue: str) -> dict:
    data = start_data(
        customer={"id": customer_id},
        problem={"category": "inquiry", "issue_code": issue, "description": "问"},
    )
    case = register(api, api.start(data))
    case = api.complete(case, "answer_inquiry", "li.na", {"answer_summary": "已解答"})
    case = visit(api, reply(api, case))
    assert case["status"] == "completed"
    return case


def test_repeat_within_three_calendar_months_of_a_closed_complaint(api):
    with time_machine.travel(datetime(2026, 8, 25, 10, 0, tzinfo=SHANGHAI), tick=True):
        _close_inquiry(api, "C-9", "EB200-LIGHT")
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI), tick=True):
        again = api.start(start_data(customer={"id": "C-9"}, problem={"issue_code": "EB200-LIGHT"}))
        other_issue = api.start(start_data(customer={"id": "C-9"}, problem={"issue_code": "EB200-SEAT"}))
        other_customer = api.start(start_data(customer={"id": "C-10"}, problem={"issue_code": "EB200-LIGHT"}))
    assert kinds(again) == ["repeat"] and again["data"]["facts"]["repeat"] is True
    assert "repeat" not in kinds(other_issue)
    assert "repeat" not in kinds(other_customer)


def test_not_a_repeat_after_three_calendar_months(api):
    with time_machine.travel(datetime(2026, 8, 19, 10, 0, tzinfo=SHANGHAI), tick=True):
        _close_inquiry(api, "C-11", "EB200-LIGHT")
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI), tick=True):
        later = api.start(start_data(customer={"id": "C-11"}, problem={"issue_code": "EB200-LIGHT"}))
    assert "repeat" not in kinds(later)


def test_an_open_complaint_does_not_make_a_repeat(api):
    api.start(start_data(customer={"id": "C-12"}, problem={"issue_code": "EB200-LIGHT"}))
    second = api.start(start_data(customer={"id": "C-12"}, problem={"issue_code": "EB200-LIGHT"}))
    assert "repeat" not in kinds(second)
