"""GET /api/v1/cases/{id}/diagram: the path a real case took and where it waits, per process.

Real cases of the shipped processes, run by SpiffWorkflow through the HTTP API; the markers are
checked against the BPMN the endpoint returns and against what the case did.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from .flows import apply, register, repair, reply, visit
from .support import start_data


def diagram(api, case_id: str, user: str = "sun.li") -> dict:
    response = api.get(f"/api/v1/cases/{case_id}/diagram", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_process(body: dict) -> dict[str, dict]:
    return {d["process"]: d for d in body["diagrams"]}


def element_ids(bpmn: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', bpmn))


def user_tasks(bpmn: str) -> set[str]:
    return set(re.findall(r'<(?:bpmn:)?userTask id="([^"]+)"', bpmn))


def active_user_tasks(drawn: dict) -> list[str]:
    return sorted(set(drawn["active"]) & user_tasks(drawn["bpmn"]))


def test_a_new_case_is_drawn_on_its_own_process_only(api):
    case = api.start()
    body = diagram(api, case["id"])
    assert body["case_id"] == case["id"]
    assert [d["process"] for d in body["diagrams"]] == ["complaint"]
    own = body["diagrams"][0]
    assert own["version"] == case["version"]
    assert active_user_tasks(own) == ["register_complaint"]
    # The acknowledgement deadline (a timer on the task's boundary) is waiting too.
    assert "acknowledgement_overdue" in own["active"]
    assert "register_complaint" not in own["completed"]
    assert {"complaint_received", "classify_urgency"} <= set(own["completed"])


def test_markers_follow_the_case_into_the_called_processes(api):
    case = register(api, api.start())
    case = repair(api, case, repaired=False, major_incident=True)
    body = diagram(api, case["id"])
    assert [d["process"] for d in body["diagrams"]] == [
        "complaint",
        "complaint_handling",
        "major_quality_incident",
    ]
    diagrams = by_process(body)
    for process, drawn in diagrams.items():
        # The XML is the file as deployed for that version.
        deployed = api.get(f"/api/v1/processes/{process}/versions/{drawn['version']}/bpmn", "sun.li")
        assert deployed.status_code == 200
        assert deployed.get_data(as_text=True) == drawn["bpmn"]
        # Every marker names an element of that very diagram.
        ids = element_ids(drawn["bpmn"])
        assert set(drawn["completed"]) <= ids, set(drawn["completed"]) - ids
        assert set(drawn["active"]) <= ids, set(drawn["active"]) - ids
    complaint = diagrams["complaint"]
    assert "register_complaint" in complaint["completed"]
    assert "handle_complaint" in complaint["active"]  # the round of handling is running
    handling = diagrams["complaint_handling"]
    assert "diagnose_and_repair" in handling["completed"]
    assert "handle_major_incident" in handling["active"]
    assert "reply_to_customer" not in handling["completed"] + handling["active"]
    major = diagrams["major_quality_incident"]
    assert active_user_tasks(major) == ["fill_application"]
    # The open task the case shows is the one marked active.
    assert api.open_elements(case) == ["fill_application"]


def test_rounds_of_handling_are_merged_and_the_current_one_is_active(api):
    case = register(api, api.start())
    case = reply(api, repair(api, case))
    case = visit(api, case, satisfied=False)  # reopened: a second round of handling
    assert api.open_elements(case) == ["diagnose_and_repair"]
    diagrams = by_process(diagram(api, case["id"]))
    assert set(diagrams) == {"complaint", "complaint_handling"}  # never a major incident
    handling = diagrams["complaint_handling"]
    # The first round's state was dropped by the runtime; its path is still drawn.
    assert {"diagnose_and_repair", "reply_to_customer", "follow_up_visit"} <= set(handling["completed"])
    assert active_user_tasks(handling) == ["diagnose_and_repair"]
    complaint = diagrams["complaint"]
    assert "handle_complaint" in complaint["completed"] and "handle_complaint" in complaint["active"]


def test_a_finished_major_incident_keeps_its_path_after_its_round_ended_too(api):
    # Eligibility counts days since the sale: the clock is pinned.
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True):
        data = start_data(request="exchange", product={"purchase_date": "2026-10-20"})
        case = register(api, api.start(data))
        case = apply(
            api, case, remedy="exchange", same_fault_repairs=2, cumulative_repair_days=6, still_unusable=True
        )
        case = api.decide(case, "manager_approval", "chen.jie", decision="approve", comment="同意换车")
        case = api.complete(
            case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "new_serial": "SN999"}
        )
        assert api.open_elements(case) == ["reply_to_customer"]
        diagrams = by_process(diagram(api, case["id"]))
        major = diagrams["major_quality_incident"]
        passed = {"fill_application", "manager_approval", "carry_out_remedy"}
        assert passed <= set(major["completed"]) and major["active"] == []
        handling = diagrams["complaint_handling"]
        assert "handle_major_incident" in handling["completed"]
        assert active_user_tasks(handling) == ["reply_to_customer"]
        # The round ends unsatisfied: both the handling round and the call inside it were dropped
        # from the workflow's state, and both paths are still drawn.
        case = visit(api, reply(api, case), satisfied=False)
        assert case["status"] == "running" and case["data"]["reopen_count"] == 1
        diagrams = by_process(diagram(api, case["id"]))
        assert passed <= set(diagrams["major_quality_incident"]["completed"])
        assert {"reply_to_customer", "follow_up_visit", "handle_major_incident"} <= set(
            diagrams["complaint_handling"]["completed"]
        )
        waiting = [task for d in diagrams.values() for task in active_user_tasks(d)]
        assert sorted(waiting) == api.open_elements(case)


def test_a_completed_case_has_its_whole_path_and_nothing_active(api):
    case = register(api, api.start())
    case = visit(api, reply(api, repair(api, case)), satisfied=True)
    assert case["status"] == "completed"
    diagrams = by_process(diagram(api, case["id"]))
    assert all(d["active"] == [] for d in diagrams.values())
    assert "handle_complaint" in diagrams["complaint"]["completed"]
    assert {"diagnose_and_repair", "reply_to_customer", "follow_up_visit"} <= set(
        diagrams["complaint_handling"]["completed"]
    )


def test_unknown_case_and_no_credentials(api):
    assert api.get("/api/v1/cases/no-such-case/diagram", "sun.li").status_code == 404
    case = api.start()
    response = api.get(f"/api/v1/cases/{case['id']}/diagram")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_the_endpoint_is_in_the_openapi_document(api):
    spec = api.get("/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/cases/{case_id}/diagram"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/CaseDiagram")
