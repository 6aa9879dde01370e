"""`GET /api/v1/cases?q=`: find a complaint by what the caller has at hand, Chinese included.

Searches business key, customer id, name, phone, product serial and problem description; every
word must match; `%` and `_` are literal. Results are summaries with the customer's name (masked
for those who do not work the case), the priority, the current step and its due time.
"""

from __future__ import annotations

import pytest

from .flows import register
from .support import start_data


@pytest.fixture
def cases(api):
    first = api.start(
        start_data(
            customer={"id": "C-2001", "name": "王小明", "phone": "13911112222"},
            product={"serial": "SN-ABC-777"},
            problem={"description": "电池鼓包，充电时发烫"},
        ),
        business_key="CRM-5001",
    )
    second = api.start(
        start_data(
            customer={"id": "C-2002", "name": "李四", "phone": "13733334444"},
            product={"serial": "SN-XYZ-100"},
            problem={"description": "刹车失灵 100% 无法制动", "category": "sudden_incident"},
        )
    )
    unrelated = api.start(start_data(customer={"id": "C-3001", "name": "赵六", "phone": "13000000000"}))
    return {"first": first, "second": second, "unrelated": unrelated}


def ids(api, q: str, user: str = "li.na") -> list[str]:
    response = api.client.get(
        "/api/v1/cases",
        query_string={"q": q},
        headers={"Authorization": f"Bearer test-token-{user}-0123456789"},
    )
    assert response.status_code == 200, response.get_json()
    return sorted(item["id"] for item in response.get_json()["items"])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("CRM-5001", ["first"]),  # business key
        ("crm-5001", ["first"]),  # any case
        ("C-2002", ["second"]),  # customer id
        ("王小明", ["first"]),  # name
        ("小明", ["first"]),  # part of a name
        ("13733334444", ["second"]),  # phone
        ("3333", ["second"]),  # part of a phone
        ("sn-abc", ["first"]),  # serial
        ("鼓包", ["first"]),  # description, Chinese
        ("充电 发烫", ["first"]),  # every word must match
        ("鼓包 刹车", []),
        ("100%", ["second"]),  # % is literal
        ("%", ["second"]),
        ("_", []),  # _ is literal, not "any character"
        ("C-20", ["first", "second"]),
        ("没有这个", []),
    ],
)
def test_search_finds_by_every_field(api, cases, q, expected):
    assert ids(api, q) == sorted(cases[name]["id"] for name in expected)


def test_search_results_are_summaries_with_name_priority_current_step_and_due_time(api, cases):
    item = api.get("/api/v1/cases?q=王小明", "li.na").get_json()["items"][0]
    assert item["customer_name"] == "王小明"  # li.na took the complaint: she works it
    assert item["priority"] == "ordinary"
    step = item["current_step"]
    assert (
        step["name"] == "登记并回应客户 Register and acknowledge"
        and step["element_id"] == "register_complaint"
    )
    assert step["due_at"].endswith("+08:00")
    assert item["business_key"] == "CRM-5001"
    urgent = api.get("/api/v1/cases?q=李四", "li.na").get_json()["items"][0]
    assert urgent["priority"] == "urgent"


def test_search_results_are_masked_for_those_who_do_not_work_the_case(api, cases):
    item = api.get("/api/v1/cases?q=13911112222", "wang.qiang").get_json()["items"][0]
    assert item["customer_name"] == "王**"
    register(api, cases["first"])  # the repair is offered to the technicians: now they work it
    item = api.get("/api/v1/cases?q=13911112222", "wang.qiang").get_json()["items"][0]
    assert item["customer_name"] == "王小明"
    assert item["current_step"]["element_id"] == "diagnose_and_repair"


def test_a_case_with_no_open_task_has_no_current_step(api, cases):
    api.post(f"/api/v1/cases/{cases['first']['id']}/cancel", "sun.li", json={"reason": "重复登记"})
    item = api.get("/api/v1/cases?q=CRM-5001", "li.na").get_json()["items"][0]
    assert item["status"] == "cancelled" and item["current_step"] is None


def test_search_combines_with_the_other_filters_and_pages(api, cases):
    assert ids(api, "C-20") == sorted(cases[name]["id"] for name in ("first", "second"))
    response = api.get("/api/v1/cases?q=C-20&priority=urgent", "li.na").get_json()
    assert [i["id"] for i in response["items"]] == [cases["second"]["id"]] and response["total"] == 1
    response = api.get("/api/v1/cases?q=C-20&per_page=1&page=2", "li.na").get_json()
    assert response["total"] == 2 and len(response["items"]) == 1


@pytest.mark.parametrize("q", ["", "x" * 201])
def test_an_empty_or_overlong_query_is_refused(api, q):
    assert api.get(f"/api/v1/cases?q={q}", "li.na").status_code == 422
