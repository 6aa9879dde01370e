"""A complaint that becomes urgent while open gets its named owner at once (DOMAIN.md §2, issue 13.7).

The event subprocess *升级或领导关注* of complaint.bpmn asks urgent_owner.dmn again, as at intake
(`choose_owner_again`): the named owner becomes `first_contact_owner` and takes the owner's open
tasks and the later ones. A case that was urgent already keeps its owner, so a supervisor's
reassignment is not undone by a later upgrade. Driven through the real diagrams over HTTP.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import register, repair, upgrade
from .support import ServiceClient, auth, start_data

MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def deploy_owner_table(api: ServiceClient, owner: str) -> None:
    """A process owner names `owner` for urgent complaints that are neither major nor over-level."""
    path = Path(__file__).resolve().parents[1] / "processes" / "urgent_owner.dmn"
    old = '<outputEntry id="rule_owner_other_urgent_out_1"><text>"li.na"</text>'
    text = path.read_text(encoding="utf-8")
    assert old in text
    table = text.replace(old, old.replace("li.na", owner))
    response = api.client.post(
        "/api/v1/deployments",
        data={"file": (io.BytesIO(table.encode()), path.name)},
        headers=auth("zhou.hao"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()


def test_a_complaint_from_the_queue_that_turns_urgent_gets_the_named_owner(api, clock):
    case = api.start(start_data(), user="callcentre")
    assert case["priority"] == "ordinary"
    assert api.open_task(case, "register_complaint")["assignee"] is None  # the agents' queue
    clock.shift(timedelta(hours=1))
    case = upgrade(api, case)
    assert case["priority"] == "urgent"
    assert case["data"]["first_contact_owner"] == "li.na" and case["data"]["dedicated_owner"] == "li.na"
    assert case["data"]["received_by"] == "callcentre"  # who took it stays on record
    assert api.open_task(case, "register_complaint")["assignee"] == "li.na"  # the open task moved


def test_the_owner_the_table_names_takes_the_open_and_the_later_owner_tasks(api, clock):
    deploy_owner_table(api, "wu.fang")
    case = api.start(start_data(customer={"id": "C-77"}))  # ordinary, taken by li.na
    assert api.open_task(case, "register_complaint")["assignee"] == "li.na"
    case = upgrade(api, case)
    assert case["data"]["first_contact_owner"] == "wu.fang"
    assert api.open_task(case, "register_complaint")["assignee"] == "wu.fang"
    assert api.complete(case, "register_complaint", "li.na", {"customer_contacted": True}, expect=403)
    case = repair(api, register(api, case, user="wu.fang"))
    assert api.open_task(case, "reply_to_customer")["assignee"] == "wu.fang"


def test_an_ordinary_complaint_keeps_its_owner_until_it_turns_urgent(api, clock):
    deploy_owner_table(api, "wu.fang")
    case = register(api, api.start(start_data(customer={"id": "C-78"})))
    case = repair(api, case)
    assert api.open_task(case, "reply_to_customer")["assignee"] == "li.na"
    case = upgrade(api, case)
    assert api.open_task(case, "reply_to_customer")["assignee"] == "wu.fang"


def test_an_urgent_case_reassigned_by_a_supervisor_keeps_its_owner_on_a_later_upgrade(api, clock):
    case = api.start(start_data(flags={"cross_region": True}), user="callcentre")
    assert case["priority"] == "urgent" and case["data"]["first_contact_owner"] == "li.na"
    response = api.post(
        f"/api/v1/cases/{case['id']}/reassign", "sun.li", json={"to": "wu.fang", "reason": "李娜休假"}
    )
    assert response.status_code == 200, response.get_json()
    case = upgrade(api, response.get_json(), kind="leadership_attention")
    assert sorted(case["data"]["urgent_kinds"]) == ["cross_region", "major"]
    assert case["data"]["first_contact_owner"] == "wu.fang"
    assert api.open_task(case, "register_complaint")["assignee"] == "wu.fang"


def test_a_task_a_supervisor_released_stays_in_the_queue_while_the_owner_is_the_same(api, clock):
    """Only a change of the named owner moves an open task; the next step of the case does not."""
    case = api.start()
    task = api.open_task(case, "register_complaint")
    assert task["assignee"] == "li.na"
    assert api.post(f"/api/v1/tasks/{task['id']}/unclaim", "sun.li").status_code == 200
    response = api.post(f"/api/v1/cases/{case['id']}/contacts", "li.na", json={"note": "客户来电询问进度"})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert "return_contact_call" in api.open_elements(case)  # the case moved on
    assert api.open_task(case, "register_complaint")["assignee"] is None
    # Turning urgent names the same owner: nothing changes hands either.
    assert api.open_task(upgrade(api, case), "register_complaint")["assignee"] is None
