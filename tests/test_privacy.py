"""Personal data (DOMAIN §8): each person sees what their work needs, masked otherwise.

Every group × every read endpoint: those who work a case (its owner, whoever started it, the
people with a task on it, approvers of its applications) see the customer whole; everyone else
sees `张*`, `138****0000`; an integration sees only the cases it started; a supervisor's or
admin's whole read of a case they do not work is recorded in its audit trail.
"""

from __future__ import annotations

import json

import pytest

from engine.services.privacy import mask_text, masked

from .flows import apply, register, repair, reply
from .support import start_data

NAME, PHONE, ADDRESS, CONTACT = "张三丰", "13800001234", "上海市浦东新区世纪大道100号", "13912345678"
SECRETS = (NAME, PHONE, ADDRESS, CONTACT)
USERS = [
    "li.na",
    "wu.fang",
    "wang.qiang",
    "zhao.min",
    "chen.jie",
    "liu.yang",
    "sun.li",
    "zhou.hao",
    "callcentre",
    "admin",
]


def personal_start(**changes) -> dict:
    return start_data(
        customer={"name": NAME, "phone": PHONE, "address": ADDRESS},
        problem={"contact_phone": CONTACT},
        **changes,
    )


def shows_whole(text: str) -> bool:
    found = [secret in text for secret in SECRETS]
    assert all(found) or not any(found), f"partly masked: {found}"
    return all(found)


def reads(api, case_id: str, user: str) -> dict[str, object]:
    """Every read endpoint for one case, as `user`: status and text (or None when not listed)."""
    out = {}
    for name, path in {
        "case": f"/api/v1/cases/{case_id}",
        "events": f"/api/v1/cases/{case_id}/events",
        "approvals": f"/api/v1/cases/{case_id}/approvals",
    }.items():
        response = api.get(path, user)
        out[name] = (response.status_code, response.get_data(as_text=True))
    for name, path in {"list": "/api/v1/cases?per_page=200", "search": f"/api/v1/cases?q={PHONE}"}.items():
        response = api.get(path, user)
        assert response.status_code == 200
        items = [i for i in response.get_json()["items"] if i["id"] == case_id]
        out[name] = (200, json.dumps(items, ensure_ascii=False) if items else None)
    return out


# Who works a case started by li.na whose register task she holds: li.na only.
WORKS_AT_START = {"li.na"}
OVERSEERS = {"sun.li", "admin"}


@pytest.mark.parametrize("user", USERS)
def test_every_group_on_every_read_endpoint_at_intake(api, user):
    case = api.start(personal_start(), user="li.na")
    seen = reads(api, case["id"], user)
    if user == "callcentre":
        # An integration sees only the cases it started: the others do not exist for it.
        assert [seen[n][0] for n in ("case", "events", "approvals")] == [404, 404, 404]
        assert seen["list"][1] is None and seen["search"][1] is None
        return
    assert all(status == 200 for status, _ in seen.values())
    whole_case = shows_whole(seen["case"][1])
    assert whole_case == (user in WORKS_AT_START | OVERSEERS), user
    for listing in ("list", "search"):
        text = seen[listing][1]
        assert text is not None
        summary = json.loads(text)[0]
        assert summary["customer_name"] == (NAME if user in WORKS_AT_START else "张**")
        assert PHONE not in text
    if user not in WORKS_AT_START | OVERSEERS:
        data = json.loads(seen["case"][1])["data"]
        assert data["customer"]["name"] == "张**"
        assert data["customer"]["phone"] == "138****1234"
        assert data["customer"]["address"].endswith("****") and ADDRESS not in seen["case"][1]
        assert data["problem"]["contact_phone"] == "139****5678"
        # What the work is about stays readable.
        assert data["customer"]["id"] == "C-1001" and data["problem"]["description"] == "刹车失灵"


def test_an_integration_sees_the_cases_it_started_whole_and_only_those(api):
    own = api.start(personal_start(), user="callcentre")
    other = api.start(personal_start(), user="li.na")
    listed = api.get("/api/v1/cases", "callcentre").get_json()
    assert [c["id"] for c in listed["items"]] == [own["id"]] and listed["total"] == 1
    assert shows_whole(api.get(f"/api/v1/cases/{own['id']}", "callcentre").get_data(as_text=True))
    assert api.get(f"/api/v1/cases/{other['id']}", "callcentre").status_code == 404
    found = api.get(f"/api/v1/cases?q={PHONE}", "callcentre").get_json()["items"]
    assert [c["id"] for c in found] == [own["id"]]


def test_people_with_a_task_on_the_case_see_it_whole_from_when_it_is_offered_to_them(api):
    case = api.start(personal_start(), user="li.na")
    assert not shows_whole(api.get(f"/api/v1/cases/{case['id']}", "wang.qiang").get_data(as_text=True))
    case = register(api, case)  # the repair is now offered to the technicians
    assert shows_whole(api.get(f"/api/v1/cases/{case['id']}", "wang.qiang").get_data(as_text=True))
    summary = api.get(f"/api/v1/cases?q={case['business_key']}", "wang.qiang").get_json()["items"][0]
    assert summary["customer_name"] == NAME
    # Once the technician has done the repair they still work the case; the other agent does not.
    case = repair(api, case)
    assert shows_whole(api.get(f"/api/v1/cases/{case['id']}", "wang.qiang").get_data(as_text=True))
    assert not shows_whole(api.get(f"/api/v1/cases/{case['id']}", "wu.fang").get_data(as_text=True))


def test_approvers_of_an_application_see_the_case_whole_and_other_approvers_do_not(api):
    case = apply(api, register(api, api.start(personal_start(request="exchange"), user="li.na")))
    for user in ("chen.jie", "he.ping"):  # both managers: the sign-off is offered to them
        assert shows_whole(api.get(f"/api/v1/cases/{case['id']}", user).get_data(as_text=True))
    assert not shows_whole(api.get(f"/api/v1/cases/{case['id']}", "liu.yang").get_data(as_text=True))
    api.decide(case, "manager_approval", "chen.jie", decision="approve", approved_amount=0)
    assert shows_whole(api.get(f"/api/v1/cases/{case['id']}", "chen.jie").get_data(as_text=True))
    assert not shows_whole(api.get(f"/api/v1/cases/{case['id']}", "he.ping").get_data(as_text=True))


@pytest.mark.parametrize("overseer", sorted(OVERSEERS))
def test_an_overseers_whole_read_of_a_case_they_do_not_work_is_recorded(api, overseer):
    case = api.start(personal_start(), user="li.na")
    assert shows_whole(api.get(f"/api/v1/cases/{case['id']}", overseer).get_data(as_text=True))
    api.get(f"/api/v1/cases/{case['id']}", "li.na")  # the owner's read is not recorded
    events = api.get(f"/api/v1/cases/{case['id']}/events", "li.na").get_json()["items"]
    viewed = [e for e in events if e["type"] == "case_viewed"]
    assert [e["actor"] for e in viewed] == [overseer]
    assert viewed[0]["at"].endswith("+08:00")
    # An overseer who works the case (a supervisor took the complaint) reads it without a record.
    own = api.start(personal_start(), user="sun.li")
    api.get(f"/api/v1/cases/{own['id']}", "sun.li")
    assert "case_viewed" not in api.event_types(own["id"])


def test_personal_data_in_event_details_is_masked_for_those_who_do_not_work_the_case(api):
    case = reply(api, repair(api, register(api, api.start(personal_start(), user="li.na"))))
    sent = {"phone": PHONE, "caller_name": NAME, "note": "客户来电"}
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/customer_called_back", "li.na", json={"data": sent}
    )
    assert response.status_code == 200, response.get_json()
    owner_view = api.get(f"/api/v1/cases/{case['id']}/events?per_page=200", "li.na").get_data(as_text=True)
    other_view = api.get(f"/api/v1/cases/{case['id']}/events?per_page=200", "zhou.hao").get_data(as_text=True)
    assert PHONE in owner_view
    assert PHONE not in other_view and "138****1234" in other_view and "客户来电" in other_view


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("phone", "13800000000", "138****0000"),
        ("phone", "021-5555-1234", "021******1234"),
        ("phone", "12345", "*****"),
        ("name", "张三", "张*"),
        ("name", "欧阳娜娜", "欧***"),
        ("name", "Li", "L*"),
        ("name", "李", "李*"),
        ("email", "zhang.san@example.com", "z***@example.com"),
        ("address", ADDRESS, "上海市浦东****"),
        ("phone", 13800000000, "***"),
    ],
)
def test_masks(kind, value, shown):
    assert mask_text(kind, value) == shown


def test_masking_reaches_every_personal_field_and_nothing_else():
    data = {
        "customer": {"id": "C-1", "name": "张三", "phone": "13800000000", "tier": "vip", "email": "a@b.cn"},
        "product": {"serial": "SN1", "model": "EB"},
        "visit": {"delivery_address": "北京市朝阳区某路1号", "contact_phone": "13900000000"},
        "contacts": [{"mobile": "13700000000", "note": "ok"}],
        "name": "not a person: a form's name",
    }
    shown = masked(data)
    assert shown["customer"] == {
        "id": "C-1",
        "name": "张*",
        "phone": "138****0000",
        "tier": "vip",
        "email": "a***@b.cn",
    }
    assert shown["product"] == data["product"]
    assert shown["visit"] == {"delivery_address": "北京市****", "contact_phone": "139****0000"}
    assert shown["contacts"] == [{"mobile": "137****0000", "note": "ok"}]
    assert shown["name"] == data["name"]
    assert data["customer"]["name"] == "张三"  # the stored data is not touched
