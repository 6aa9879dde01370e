"""Process owners deploy safely: every problem reported at once, nothing stored when invalid, new
versions only for changed content, running cases pinned to their version (API.md "Process
definitions")."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .flows import apply, register
from .support import auth, start_data

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = ROOT / "processes"
FORMS = ROOT / "forms"


def read(name: str) -> str:
    folder = FORMS if name.endswith(".json") else PROCESSES
    return (folder / name).read_text(encoding="utf-8")


def upload(api, files: dict[str, str | bytes], user: str = "zhou.hao"):
    payload = {
        f"file{i}": (io.BytesIO(content.encode() if isinstance(content, str) else content), name)
        for i, (name, content) in enumerate(files.items())
    }
    return api.client.post(
        "/api/v1/deployments", data=payload, headers=auth(user), content_type="multipart/form-data"
    )


def versions(api, key: str) -> list[int]:
    return [v["version"] for v in api.get(f"/api/v1/processes/{key}", "zhou.hao").get_json()["versions"]]


def line_where(text: str, predicate) -> int:
    """The 1-based number of the first line of `text` that satisfies `predicate`."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if predicate(line))


def problems_of(response) -> list[dict]:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["type"] == "/problems/invalid-deployment"
    return body["problems"]


# ---- reading versions


def test_processes_list_and_versions(api):
    listed = api.get("/api/v1/processes", "li.na").get_json()
    assert [(p["key"], p["version"]) for p in listed["items"]] == [
        ("batch_incident", 1),
        ("complaint", 1),
        ("complaint_handling", 1),
        ("major_quality_incident", 1),
        ("remedy_signoff", 1),  # called by major_quality_incident once per remedy
    ]
    complaint = api.get("/api/v1/processes/complaint", "li.na").get_json()
    assert (
        complaint["versions"][0]["deployed_by"] == "system" and len(complaint["versions"][0]["sha256"]) == 64
    )
    bpmn = api.get("/api/v1/processes/complaint/versions/1/bpmn", "li.na")
    assert bpmn.status_code == 200 and bpmn.mimetype == "application/xml"
    assert bpmn.get_data(as_text=True) == read("complaint.bpmn")
    assert api.get("/api/v1/processes/complaint/versions/9/bpmn", "li.na").status_code == 404
    assert api.get("/api/v1/processes/nope", "li.na").status_code == 404


# ---- deploying


def test_unchanged_content_is_200_with_the_same_versions(api):
    response = upload(
        api, {"complaint.bpmn": read("complaint.bpmn"), "sla_deadlines.dmn": read("sla_deadlines.dmn")}
    )
    assert response.status_code == 200
    assert response.get_json()["deployed"] == [{"key": "complaint", "version": 1, "created": False}]
    assert versions(api, "complaint") == [1]


def test_an_edited_table_makes_new_versions_of_the_processes_that_use_it(api):
    edited = read("sla_deadlines.dmn").replace(
        '<inputEntry id="rule_sla_ordinary_in_1"><text>"ordinary"</text></inputEntry>\n'
        '        <outputEntry id="rule_sla_ordinary_out_1"><text>24</text></outputEntry>',
        '<inputEntry id="rule_sla_ordinary_in_1"><text>"ordinary"</text></inputEntry>\n'
        '        <outputEntry id="rule_sla_ordinary_out_1"><text>12</text></outputEntry>',
    )
    assert edited != read("sla_deadlines.dmn")
    response = upload(api, {"sla_deadlines.dmn": edited})
    assert response.status_code == 201
    assert response.get_json()["deployed"] == [{"key": "complaint", "version": 2, "created": True}]
    assert versions(api, "complaint") == [1, 2]
    assert versions(api, "major_quality_incident") == [1]  # does not use that table
    newest = api.get("/api/v1/processes/complaint", "li.na").get_json()["versions"][-1]
    assert newest["deployed_by"] == "zhou.hao"
    case = api.start()
    assert case["version"] == 2 and case["data"]["ack_hours"] == 12


def test_running_cases_stay_on_their_version(api):
    # An old case waits at the application while the approval levels change.
    old_case = register(api, api.start(start_data(request="compensation")))
    assert old_case["version"] == 1
    stricter = read("approval_levels.dmn").replace("&gt; 5000</text>", "&gt; 500</text>")
    response = upload(api, {"approval_levels.dmn": stricter})
    assert response.status_code == 201
    assert {(d["key"], d["version"]) for d in response.get_json()["deployed"]} == {
        ("complaint", 2),
        ("complaint_handling", 2),
        ("major_quality_incident", 2),
        ("remedy_signoff", 2),  # the process that decides the approval level of each remedy
    }
    new_case = register(api, api.start(start_data(request="compensation", customer={"id": "C-2"})))
    assert new_case["version"] == 2
    old_case = apply(api, old_case, remedy="compensation", injury_or_damage=True, loss_amount=800)
    new_case = apply(api, new_case, remedy="compensation", injury_or_damage=True, loss_amount=800)
    assert old_case["data"]["needs_general_manager"] is False  # the old row
    assert new_case["data"]["needs_general_manager"] is True  # the new row
    assert api.case(old_case["id"])["version"] == 1


def test_only_process_owners_deploy(api):
    response = upload(api, {"sla_deadlines.dmn": read("sla_deadlines.dmn")}, user="li.na")
    assert response.status_code == 403
    assert upload(api, {"sla_deadlines.dmn": read("sla_deadlines.dmn")}, user="admin").status_code == 200


def test_an_empty_upload_is_400(api):
    response = api.client.post(
        "/api/v1/deployments", data={}, headers=auth("zhou.hao"), content_type="multipart/form-data"
    )
    assert response.status_code == 400


# ---- refused uploads: every problem, located; nothing stored


def _assert_nothing_deployed(api):
    assert versions(api, "complaint") == [1] and versions(api, "major_quality_incident") == [1]


def test_xml_syntax_error_names_file_and_line(api):
    broken = read("complaint.bpmn").replace("<bpmn:laneSet", "<bpmn:laneSet <oops", 1)
    [problem] = problems_of(upload(api, {"complaint.bpmn": broken}))
    assert problem["file"] == "complaint.bpmn"
    assert problem["message"].startswith("XML syntax error")
    assert problem["line"] == line_where(broken, lambda line: "<oops" in line)
    _assert_nothing_deployed(api)


def test_bpmn_that_breaks_the_bpmn_schema(api):
    broken = read("complaint.bpmn").replace("<bpmn:laneSet", "<bpmn:notAnElement /><bpmn:laneSet", 1)
    [problem] = problems_of(upload(api, {"complaint.bpmn": broken}))
    assert problem["file"] == "complaint.bpmn" and "notAnElement" in problem["message"]
    assert isinstance(problem["line"], int)
    _assert_nothing_deployed(api)


def test_a_decision_id_that_no_dmn_defines(api):
    broken = read("complaint.bpmn").replace(">complaint_routing<", ">complaint_routes<")
    problems = problems_of(upload(api, {"complaint.bpmn": broken}))
    # Both business rule tasks that call the routing table are named.
    assert sorted(p["element_id"] for p in problems) == ["decide_handling_path", "reroute_reopened"]
    for problem in problems:
        assert 'No DMN Diagram available with id "complaint_routes"' in problem["message"]
        assert problem["file"] == "complaint.bpmn"
    _assert_nothing_deployed(api)


def test_a_missing_form_file_and_an_invalid_form(api):
    bpmn = read("complaint_handling.bpmn").replace(
        'value="reply-to-customer.schema.json"', 'value="reply.schema.json"'
    )
    bad_form = '{"type": "object", "properties": {"reply_text": {"type": "text"}}}'
    problems = problems_of(
        upload(api, {"complaint_handling.bpmn": bpmn, "register-complaint.schema.json": bad_form})
    )
    by_file = {p["file"]: p for p in problems}
    assert by_file["complaint_handling.bpmn"]["element_id"] == "reply_to_customer"
    assert (
        by_file["complaint_handling.bpmn"]["message"]
        == "form file 'reply.schema.json' is not in the deployment"
    )
    assert by_file["complaint_handling.bpmn"]["line"] == line_where(
        bpmn, lambda line: 'id="reply_to_customer"' in line and "userTask" in line
    )
    assert by_file["register-complaint.schema.json"]["message"].startswith(
        "not a valid JSON Schema at properties/reply_text/type"
    )
    assert len(problems) == 2
    _assert_nothing_deployed(api)


def test_a_form_that_is_not_json(api):
    [problem] = problems_of(upload(api, {"escalation.schema.json": '{"type": "object",\n  "properties": }'}))
    assert problem["file"] == "escalation.schema.json" and problem["line"] == 2
    assert problem["message"].startswith("not valid JSON")


def test_a_condition_that_does_not_compile_is_located(api):
    bpmn = read("complaint_handling.bpmn").replace('handling_path == "service"', "handling_path == ")
    [problem] = problems_of(upload(api, {"complaint_handling.bpmn": bpmn}))
    assert problem["element_id"] == "flow_leads_route_to_investigate_service"
    assert "SyntaxError" in problem["message"]
    assert problem["line"] == line_where(bpmn, lambda line: "handling_path == <" in line)


def test_a_script_that_does_not_compile_reports_its_own_line(api):
    bpmn = read("complaint.bpmn").replace(
        "reply_due = add_hours(received_at, reply_hours)</bpmn:script>",
        "reply_due = add_hours(received_at, reply_hours)\nnext_step = (</bpmn:script>",
    )
    [problem] = problems_of(upload(api, {"complaint.bpmn": bpmn}))
    assert problem["element_id"] == "set_deadlines"
    assert problem["line"] == line_where(bpmn, lambda line: line.startswith("next_step = (</bpmn:script>"))


def test_a_dmn_cell_that_does_not_compile(api):
    dmn = read("approval_levels.dmn").replace("<text>&gt; 5000</text>", "<text>&gt;&gt; 5000 (</text>")
    problems = problems_of(upload(api, {"approval_levels.dmn": dmn}))
    assert {p["element_id"] for p in problems} == {"rule_level_large_compensation", "rule_level_large_amount"}
    assert problems[0]["file"] == "approval_levels.dmn" and problems[0]["line"]


def test_a_user_task_without_a_group(api):
    bpmn = read("complaint_handling.bpmn").replace(
        "<bpmn:flowNodeRef>reply_to_customer</bpmn:flowNodeRef>", ""
    )
    [problem] = problems_of(upload(api, {"complaint_handling.bpmn": bpmn}))
    assert problem["element_id"] == "reply_to_customer"
    assert problem["message"].startswith("user task has no candidate group")


def test_unsupported_and_unreadable_files(api):
    problems = problems_of(upload(api, {"notes.txt": "hello", "latin1.dmn": "caf\xe9".encode("latin-1")}))
    assert {p["file"] for p in problems} == {"notes.txt", "latin1.dmn"}
    assert any("only .bpmn, .dmn and .json" in p["message"] for p in problems)
    assert any("not UTF-8" in p["message"] for p in problems)


def test_several_problems_are_reported_at_once(api):
    bpmn = (
        read("complaint_handling.bpmn")
        .replace('handling_path == "service"', "handling_path ==")
        .replace('value="follow-up-visit.schema.json"', 'value="visit.schema.json"')
    )
    problems = problems_of(upload(api, {"complaint_handling.bpmn": bpmn}))
    assert {p["element_id"] for p in problems} == {
        "flow_leads_route_to_investigate_service",
        "follow_up_visit",
    }


# ---- trying decisions


def test_evaluate_a_decision_without_starting_a_case(api):
    response = api.post(
        "/api/v1/decisions/sla_deadlines/evaluate", "zhou.hao", json={"inputs": {"priority": "urgent"}}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["outputs"] == [
        {
            "ack_hours": 2,
            "reply_hours": 24,
            "update_hours": 24,
            "signoff_working_days": 1,
            "followup_days": 7,
            "sanbao_days": 365,
            "interim_margin_hours": 6,
        }
    ]
    assert body["matched_rules"] == [{"row": 1, "id": "rule_sla_urgent", "description": "紧急投诉 Urgent"}]
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 0


def test_evaluate_collect_table_lists_every_row_that_hits(api):
    inputs = {
        "channel": "media",
        "flags": {},
        "facts": {"repeat": True, "batch_ordinary_complaints": 1, "batch_vip_customers": 0},
        "customer": {},
        "problem": {"category": "inquiry"},
    }
    body = api.post(
        "/api/v1/decisions/complaint_urgency/evaluate", "zhou.hao", json={"inputs": inputs}
    ).get_json()
    assert [m["id"] for m in body["matched_rules"]] == [
        "rule_major_channel",
        "rule_over_level",
        "rule_repeat",
    ]
    assert body["result"] == {"urgent_kinds": ["major", "over_level", "repeat"]}


def test_evaluate_reports_bad_inputs_and_unknown_decisions(api):
    missing = api.post(
        "/api/v1/decisions/complaint_urgency/evaluate", "zhou.hao", json={"inputs": {"channel": "phone"}}
    )
    assert missing.status_code == 422 and "inputs" in missing.get_json()["errors"]
    assert api.post("/api/v1/decisions/nope/evaluate", "zhou.hao", json={"inputs": {}}).status_code == 404
    assert api.post("/api/v1/decisions/sla_deadlines/evaluate", "zhou.hao", json={}).status_code == 422
    assert (
        api.post("/api/v1/decisions/sla_deadlines/evaluate", "li.na", json={"inputs": {}}).status_code == 403
    )


def test_evaluate_follows_the_newest_deployment(api):
    upload(
        api, {"sla_deadlines.dmn": read("sla_deadlines.dmn").replace("<text>2</text>", "<text>3</text>", 1)}
    )
    body = api.post(
        "/api/v1/decisions/sla_deadlines/evaluate", "zhou.hao", json={"inputs": {"priority": "urgent"}}
    ).get_json()
    assert body["outputs"][0]["ack_hours"] == 3


# ---- the command line, as a process owner uses it


def _cli(args: list[str], database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COMPLAINTS_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "api", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_deploy_of_an_edited_row(database_url, api, tmp_path):
    unchanged = _cli(["deploy", str(PROCESSES), str(FORMS)], database_url)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "complaint version 1: unchanged" in unchanged.stdout
    old_case = api.start()
    workdir = tmp_path / "processes"
    shutil.copytree(PROCESSES, workdir)
    table = workdir / "sla_deadlines.dmn"
    ordinary_ack = '<outputEntry id="rule_sla_ordinary_out_1"><text>24</text>'
    text = table.read_text(encoding="utf-8")
    assert ordinary_ack in text
    table.write_text(text.replace(ordinary_ack, ordinary_ack.replace(">24<", ">8<")), encoding="utf-8")
    deployed = _cli(["deploy", str(workdir)], database_url)
    assert deployed.returncode == 0, deployed.stderr
    assert "complaint version 2: deployed as a new version" in deployed.stdout
    versions_seen = api.get("/api/v1/processes/complaint", "li.na").get_json()["versions"]
    assert versions_seen[-1]["deployed_by"].endswith("(command line)")
    new_case = api.start(start_data(customer={"id": "C-2"}))
    assert new_case["version"] == 2 and new_case["data"]["ack_hours"] == 8
    assert api.case(old_case["id"])["data"]["ack_hours"] == 24
    broken = workdir / "complaint_handling.bpmn"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace('handling_path == "service"', "handling_path =="),
        encoding="utf-8",
    )
    refused = _cli(["deploy", str(workdir)], database_url)
    assert refused.returncode == 1
    assert "flow_leads_route_to_investigate_service" in refused.stderr


def test_an_expression_starting_on_the_next_line_is_located_on_its_own_line(api):
    bpmn = read("complaint_handling.bpmn").replace(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">handling_path == "service"',
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">\n\nhandling_path ==',
    )
    [problem] = problems_of(upload(api, {"complaint_handling.bpmn": bpmn}))
    assert problem["line"] == line_where(bpmn, lambda line: line.startswith("handling_path =="))
