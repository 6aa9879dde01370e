"""First-contact ownership (DOMAIN.md §4, 首问负责) and retrying a case in error, over HTTP.

The owner keeps their case's tasks; only a supervisor reassigns the case, to a named agent, with
a reason; an integration names the agent who took the call (`data.taken_by`). A case that failed
on its data is run again by a supervisor once the cause was fixed.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import register, repair
from .probes import HEADER
from .support import auth, start_data


def reassign(api, case_id: str, user: str = "sun.li", **body):
    return api.post(f"/api/v1/cases/{case_id}/reassign", user, json=body)


def owner_tasks(case: dict) -> dict[str, str | None]:
    return {t["element_id"]: t["assignee"] for t in case["tasks"]}


# ---- the owner keeps the case
def test_the_owner_cannot_unclaim_a_task_of_their_own_case(api):
    case = api.start(user="li.na")
    task = api.open_task(case, "register_complaint")
    assert task["assignee"] == "li.na"
    response = api.post(f"/api/v1/tasks/{task['id']}/unclaim", "li.na")
    assert response.status_code == 403
    assert "reassign" in response.get_json()["detail"]
    assert api.open_task(api.case(case["id"]), "register_complaint")["assignee"] == "li.na"
    assert "task_unclaimed" not in api.event_types(case["id"])

    # The rule is the owner's alone: others still hand back what they claimed, and a
    # supervisor may unclaim an owner's task.
    case = register(api, api.start(start_data(customer={"id": "C-4004"}), user="li.na"))
    repair_task = api.open_task(case, "diagnose_and_repair")
    assert api.post(f"/api/v1/tasks/{repair_task['id']}/claim", "wang.qiang").status_code == 200
    assert api.post(f"/api/v1/tasks/{repair_task['id']}/unclaim", "wang.qiang").status_code == 200
    other = api.start(start_data(customer={"id": "C-2002"}), user="li.na")
    task = api.open_task(other, "register_complaint")
    assert api.post(f"/api/v1/tasks/{task['id']}/unclaim", "sun.li").status_code == 200


# ---- a supervisor reassigns
def test_a_supervisor_reassigns_the_case_and_its_open_and_later_owner_tasks_go_to_the_new_owner(api):
    case = api.start(user="li.na")
    response = reassign(api, case["id"], to="wu.fang", reason="李娜休假 on leave")
    assert response.status_code == 200, response.get_json()
    moved = response.get_json()
    assert moved["data"]["first_contact_owner"] == "wu.fang"
    assert owner_tasks(moved) == {"register_complaint": "wu.fang"}
    [event] = [e for e in api.events(case["id"]) if e["type"] == "case_reassigned"]
    assert event["actor"] == "sun.li"
    assert event["detail"]["from"] == "li.na" and event["detail"]["to"] == "wu.fang"
    assert event["detail"]["reason"] == "李娜休假 on leave"
    assert event["detail"]["tasks"] == [moved["tasks"][0]["id"]]

    # The former owner can no longer work it; the new owner keeps it as the old one did.
    assert api.complete(moved, "register_complaint", "li.na", {"customer_contacted": True}, expect=403)
    task_id = moved["tasks"][0]["id"]
    assert api.post(f"/api/v1/tasks/{task_id}/unclaim", "wu.fang").status_code == 403
    case = register(api, moved, user="wu.fang")
    case = repair(api, case)
    # A task created after the reassignment goes to the new owner too (the workflow knows it).
    assert owner_tasks(case)["reply_to_customer"] == "wu.fang"
    assert api.case(case["id"])["data"]["first_contact_owner"] == "wu.fang"


def test_a_reminder_that_fires_after_the_reassignment_goes_to_the_new_owner(api, engine):
    with time_machine.travel(
        datetime(2026, 11, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
    ) as clock:
        case = register(api, api.start(user="li.na"))  # at the repair: the 24-hour update clock runs
        assert reassign(api, case["id"], to="wu.fang", reason="李娜调岗").status_code == 200
        clock.shift(timedelta(hours=24, seconds=1))
        engine.timers.fire_due()
        after = api.case(case["id"])
    assert owner_tasks(after)["update_customer"] == "wu.fang"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "wang.qiang", "reason": "换人"}, "to"),  # a technician, not an agent
        ({"to": "nobody", "reason": "换人"}, "to"),
        ({"to": "li.na", "reason": "换人"}, "to"),  # already the owner
        ({"to": "wu.fang", "reason": "   "}, "reason"),
        ({"to": "wu.fang", "reason": ""}, "reason"),
        ({"to": "wu.fang"}, "reason"),
        ({"reason": "换人"}, "to"),
        ({"to": "wu.fang", "reason": "换人", "extra": 1}, "extra"),
    ],
    ids=[
        "technician",
        "unknown",
        "same-owner",
        "blank-reason",
        "empty-reason",
        "no-reason",
        "no-to",
        "extra",
    ],
)
def test_a_reassignment_that_breaks_a_rule_is_422_and_changes_nothing(api, body, field):
    case = api.start(user="li.na")
    response = api.post(f"/api/v1/cases/{case['id']}/reassign", "sun.li", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    after = api.case(case["id"])
    assert after["data"]["first_contact_owner"] == "li.na"
    assert owner_tasks(after) == {"register_complaint": "li.na"}
    assert "case_reassigned" not in api.event_types(case["id"])


@pytest.mark.parametrize(
    "user", ["li.na", "wu.fang", "wang.qiang", "zhao.min", "chen.jie", "zhou.hao", "callcentre"]
)
def test_only_supervisors_and_admins_reassign(api, user):
    case = api.start(user="li.na")
    assert reassign(api, case["id"], user, to="wu.fang", reason="换人").status_code == 403
    assert api.case(case["id"])["data"]["first_contact_owner"] == "li.na"
    assert reassign(api, case["id"], "admin", to="wu.fang", reason="换人").status_code == 200


def test_a_closed_case_is_not_reassigned(api):
    case = api.start(user="li.na")
    api.post(f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={"reason": "重复"})
    assert reassign(api, case["id"], to="wu.fang", reason="换人").status_code == 409
    assert reassign(api, "no-such-case", to="wu.fang", reason="换人").status_code == 404


# ---- an integration names who took the call
def test_an_integration_names_the_agent_who_took_the_call(api):
    case = api.start(start_data(taken_by="wu.fang"), user="callcentre")
    assert case["data"]["first_contact_owner"] == "wu.fang"
    assert owner_tasks(case) == {"register_complaint": "wu.fang"}
    # Without a name the case goes to the agents' queue.
    queued = api.start(start_data(customer={"id": "C-2002"}), user="callcentre")
    assert owner_tasks(queued) == {"register_complaint": None}
    # An agent takes their own calls (naming themselves changes nothing).
    own = api.start(start_data(customer={"id": "C-3003"}, taken_by="li.na"), user="li.na")
    assert own["data"]["first_contact_owner"] == "li.na"


@pytest.mark.parametrize(
    ("user", "taken_by"),
    [
        ("callcentre", "nobody"),
        ("callcentre", "wang.qiang"),  # a technician
        ("callcentre", "sun.li"),  # a supervisor, not an agent
        ("callcentre", ""),
        ("callcentre", 42),
        ("callcentre", None),
        ("callcentre", ["li.na"]),
        ("li.na", "wu.fang"),  # an agent cannot hand the customer to a colleague at intake
    ],
)
def test_taken_by_must_name_an_agent_and_nothing_starts_otherwise(api, user, taken_by):
    response = api.post(
        "/api/v1/cases", user, json={"process": "complaint", "data": start_data(taken_by=taken_by)}
    )
    assert response.status_code == 422, response.get_json()
    assert "data.taken_by" in response.get_json()["errors"]
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 0


# ---- retry a case in error
FRAGILE = "probe_fragile"


def fragile_process() -> str:
    """start → enter (agents) → share = total / parts (fails when parts is 0) → check → end."""
    return (
        HEADER.format(key=FRAGILE) + f'  <bpmn:process id="{FRAGILE}" name="Fragile" isExecutable="true">\n'
        '    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_agents" name="agents">'
        "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>enter</bpmn:flowNodeRef>"
        "<bpmn:flowNodeRef>check</bpmn:flowNodeRef><bpmn:flowNodeRef>done</bpmn:flowNodeRef>"
        '</bpmn:lane><bpmn:lane id="lane_system" name="system"><bpmn:flowNodeRef>divide</bpmn:flowNodeRef>'
        "</bpmn:lane></bpmn:laneSet>\n"
        '    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:userTask id="enter" name="Enter"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>\n"
        '    <bpmn:scriptTask id="divide" name="Divide"><bpmn:incoming>f2</bpmn:incoming>'
        "<bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>share = total / parts</bpmn:script></bpmn:scriptTask>\n"
        '    <bpmn:userTask id="check" name="Check"><bpmn:incoming>f3</bpmn:incoming>'
        "<bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="enter" />\n'
        '    <bpmn:sequenceFlow id="f2" sourceRef="enter" targetRef="divide" />\n'
        '    <bpmn:sequenceFlow id="f3" sourceRef="divide" targetRef="check" />\n'
        '    <bpmn:sequenceFlow id="f4" sourceRef="check" targetRef="done" />\n'
        "  </bpmn:process>\n</bpmn:definitions>\n"
    )


@pytest.fixture
def failed_case(api):
    """A case of the fragile probe process, in error: its script divided by zero."""
    files = {"f": (io.BytesIO(fragile_process().encode()), f"{FRAGILE}.bpmn")}
    deployed = api.client.post(
        "/api/v1/deployments", data=files, headers=auth("zhou.hao"), content_type="multipart/form-data"
    )
    assert deployed.status_code == 201, deployed.get_json()
    started = api.post("/api/v1/cases", "li.na", json={"process": FRAGILE, "data": {}})
    assert started.status_code == 201, started.get_json()
    case = api.complete(started.get_json(), "enter", "li.na", {"total": 100, "parts": 0})
    assert case["status"] == "error"
    assert case["error"]["element_id"] == "divide"
    return case


def retry(api, case_id: str, user: str = "sun.li", **body):
    return api.post(f"/api/v1/cases/{case_id}/retry", user, json=body)


def test_a_retry_before_the_cause_is_fixed_fails_again_and_after_the_fix_the_case_goes_on(api, failed_case):
    case_id = failed_case["id"]
    again = retry(api, case_id)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["status"] == "error"

    fixed = retry(api, case_id, "admin", data={"parts": 4})
    assert fixed.status_code == 200, fixed.get_json()
    body = fixed.get_json()
    assert body["status"] == "running" and body["error"] is None
    assert body["data"]["share"] == 25
    assert api.open_elements(body) == ["check"]
    events = api.events(case_id)
    retried = [e for e in events if e["type"] == "case_retried"]
    assert [e["actor"] for e in retried] == ["sun.li", "admin"]
    assert retried[1]["detail"]["data"] == {"parts": 4}
    assert [e["type"] for e in events].count("case_error") == 2
    assert retry(api, case_id).status_code == 409  # running now: nothing to retry
    done = api.complete(body, "check", "li.na")
    assert done["status"] == "completed"


@pytest.mark.parametrize(
    "user", ["li.na", "wang.qiang", "zhao.min", "chen.jie", "liu.yang", "zhou.hao", "callcentre"]
)
def test_only_supervisors_and_admins_retry(api, failed_case, user):
    assert retry(api, failed_case["id"], user, data={"parts": 4}).status_code == 403
    assert api.case(failed_case["id"])["status"] == "error"


@pytest.mark.parametrize(
    "body",
    [{"data": {"case_id": "x"}}, {"data": {"first_contact_owner": "wu.fang"}}, {"data": []}, {"other": 1}],
    ids=["case_id", "owner", "not-an-object", "unknown-field"],
)
def test_a_retry_may_not_rewrite_the_services_own_fields(api, failed_case, body):
    response = api.post(f"/api/v1/cases/{failed_case['id']}/retry", "sun.li", json=body)
    assert response.status_code == 422, response.get_json()
    assert api.case(failed_case["id"])["status"] == "error"
    assert "case_retried" not in api.event_types(failed_case["id"])


def test_a_running_case_is_not_retried(api):
    case = api.start()
    assert retry(api, case["id"]).status_code == 409
    assert retry(api, "no-such-case").status_code == 404
