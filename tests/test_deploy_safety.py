"""Deploying is safe against races, restarts and hostile or careless files (issue 10, items 6, 7,
10, 11 and 14): concurrent deployments keep every change; a restart never replaces an owner's
version; form schemas neither reach outside the service nor backtrack; every problem of a
deployment is reported at once and located; the decision tester names bad inputs; processes
only ever called cannot be started; the command line stays inside the folder it deploys."""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.definitions.bundle import read_folder
from engine.forms import compile_validator, field_errors

from .conftest import DEFINITION_DIRS, actor
from .support import auth, start_data
from .test_deployments import FORMS, PROCESSES, problems_of, read, upload, versions

ROOT = Path(__file__).resolve().parents[1]
SLA_ORDINARY_ACK = '<outputEntry id="rule_sla_ordinary_out_1"><text>24</text>'
LARGE_COMPENSATION = "<text>&gt; 5000</text>"


def newest(api, key: str) -> dict:
    return api.get(f"/api/v1/processes/{key}", "zhou.hao").get_json()["versions"][-1]


def stored_file(engine, key: str, version: int, name: str) -> str:
    """A file of a version as stored (read from the database, not through the endpoint)."""
    from engine.store.models import ProcessDefinition

    with engine.db.unit_of_work(write=False) as uow:
        row = uow.session.query(ProcessDefinition).filter_by(process_key=key, version=version).one()
        return row.files[name]


def version_file(api, key: str, version: int, name: str) -> str:
    response = api.get(f"/api/v1/processes/{key}/versions/{version}/files/{name}", "li.na")
    assert response.status_code == 200, response.get_json()
    return response.get_data(as_text=True)


# ---- 7. concurrent deployments never lose a change


def test_two_owners_deploying_different_files_at_once_both_land(engine, api, directory):
    """Each round, two owners upload different tables of `complaint` at the same moment; the
    newest version must contain both edits (today's code built each from a stale read)."""
    owner = actor(directory, "zhou.hao")
    for round_number in range(3):
        sla = read("sla_deadlines.dmn").replace(
            SLA_ORDINARY_ACK, SLA_ORDINARY_ACK.replace(">24<", f">{30 + round_number}<")
        )
        levels = read("approval_levels.dmn").replace(
            LARGE_COMPENSATION, f"<text>&gt; {6000 + round_number}</text>"
        )
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def deploy(name: str, text: str, barrier=barrier, failures=failures) -> None:
            try:
                barrier.wait()
                engine.deployments.deploy(owner, {name: text})
            except BaseException as error:  # reported below, in the test's thread
                failures.append(error)

        threads = [
            threading.Thread(target=deploy, args=("sla_deadlines.dmn", sla)),
            threading.Thread(target=deploy, args=("approval_levels.dmn", levels)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        latest = newest(api, "complaint")["version"]
        assert stored_file(engine, "complaint", latest, "sla_deadlines.dmn") == sla, round_number
        assert stored_file(engine, "complaint", latest, "approval_levels.dmn") == levels, round_number


def test_several_files_under_one_field_name_are_all_deployed(engine, api):
    """The README's curl form: `-F file=@a -F file=@b` sends both under the field name `file`."""
    sla = read("sla_deadlines.dmn").replace(SLA_ORDINARY_ACK, SLA_ORDINARY_ACK.replace(">24<", ">9<"))
    levels = read("approval_levels.dmn").replace(LARGE_COMPENSATION, "<text>&gt; 7000</text>")
    response = api.client.post(
        "/api/v1/deployments",
        data={
            "file": [
                (io.BytesIO(sla.encode()), "sla_deadlines.dmn"),
                (io.BytesIO(levels.encode()), "approval_levels.dmn"),
            ]
        },
        headers=auth("zhou.hao"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    assert stored_file(engine, "complaint", 2, "sla_deadlines.dmn") == sla
    assert stored_file(engine, "complaint", 2, "approval_levels.dmn") == levels
    assert versions(api, "major_quality_incident") == [1, 2]  # it uses approval_levels.dmn


# ---- 7. a restart never replaces an owner's version


def test_a_restart_keeps_an_owners_version(engine, api):
    edited = read("sla_deadlines.dmn").replace(SLA_ORDINARY_ACK, SLA_ORDINARY_ACK.replace(">24<", ">8<"))
    assert upload(api, {"sla_deadlines.dmn": edited}).status_code == 201
    restart = engine.deploy_folders(*DEFINITION_DIRS)  # what `serve` does at start-up
    assert [(k["key"], k["version"], k["shipped_files_changed"]) for k in restart["kept"]] == [
        ("complaint", 2, False)
    ]
    assert versions(api, "complaint") == [1, 2]
    assert newest(api, "complaint")["deployed_by"] == "zhou.hao"
    assert api.start()["data"]["ack_hours"] == 8


def test_a_restart_with_changed_shipped_files_deploys_them_only_where_no_owner_deployed(
    engine, api, tmp_path, caplog
):
    """The owner changed complaint's SLA table; the release changes company_policy.dmn, used by
    major_quality_incident (and so by the processes calling it). The processes nobody deployed get
    the shipped change; complaint keeps the owner's version and the start log says why."""
    edited = read("sla_deadlines.dmn").replace(SLA_ORDINARY_ACK, SLA_ORDINARY_ACK.replace(">24<", ">8<"))
    assert upload(api, {"sla_deadlines.dmn": edited}).status_code == 201
    shipped = tmp_path / "processes"
    shipped.mkdir()
    for name, text in read_folder(PROCESSES).items():
        (shipped / name).write_text(text, encoding="utf-8")
    policy = shipped / "company_policy.dmn"
    policy.write_text(policy.read_text(encoding="utf-8") + "\n<!-- release 2 -->\n", encoding="utf-8")

    restart = engine.deploy_folders(shipped, FORMS)
    assert {(d["key"], d["version"], d["created"]) for d in restart["deployed"]} == {
        ("batch_incident", 1, False),
        ("complaint_handling", 2, True),
        ("major_quality_incident", 2, True),
        ("remedy_signoff", 1, False),
    }
    assert [(k["key"], k["version"], k["shipped_files_changed"]) for k in restart["kept"]] == [
        ("complaint", 2, True)
    ]
    assert newest(api, "complaint")["deployed_by"] == "zhou.hao"
    assert stored_file(engine, "complaint", 2, "sla_deadlines.dmn") == edited
    assert stored_file(engine, "major_quality_incident", 2, "company_policy.dmn").endswith(
        "<!-- release 2 -->\n"
    )

    from api.cli import _log_kept

    with caplog.at_level(logging.INFO, logger="api"):
        _log_kept(restart["kept"], [str(shipped), str(FORMS)])
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "complaint" in warning.getMessage() and "zhou.hao" in warning.getMessage()
    assert f"python -m api deploy {shipped} {FORMS}" in warning.getMessage()

    again = engine.deploy_folders(shipped, FORMS)  # a second restart changes nothing
    assert not any(d["created"] for d in again["deployed"])


# ---- 6. form schemas: no network or file access, no exponential regex


HOSTILE_REFS = [
    "file:///etc/passwd",
    "file:///dev/zero",
    "http://127.0.0.1:9/schema.json",
    "https://example.com/schema.json",
    "//example.com/schema.json",
    "not-in-the-deployment.schema.json",
    "../forms/escalation.schema.json",
]


def _escalation_with(**extra) -> str:
    schema = json.loads(read("escalation.schema.json"))
    schema.update(extra)
    return json.dumps(schema, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_a_ref_outside_the_deployment_is_refused_at_deploy(api, ref):
    form = _escalation_with(properties={"note": {"$ref": ref}})
    [problem] = problems_of(upload(api, {"escalation.schema.json": form}))
    assert problem["file"] == "escalation.schema.json"
    assert f"'{ref}'" in problem["message"] and "outside the deployment" in problem["message"]
    assert problem["element_id"] == "properties/note/$ref"
    assert json.dumps(ref) in form.splitlines()[problem["line"] - 1]
    assert versions(api, "complaint") == [1]


def test_an_absolute_id_is_refused_at_deploy(api):
    form = _escalation_with(**{"$id": "http://127.0.0.1:9/base/"})
    [problem] = problems_of(upload(api, {"escalation.schema.json": form}))
    assert "absolute URI" in problem["message"]


@pytest.fixture
def counting_server():
    """A local HTTP server that counts the requests it gets (nothing should ever call it)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    thread.join(timeout=5)


def test_validation_never_retrieves_a_ref(counting_server, tmp_path):
    """A version deployed before the deploy check existed still fetches nothing and reads no file."""
    url, hits = counting_server
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string", "description": "TOP-SECRET-CONTENT"}', encoding="utf-8")
    for ref in (f"{url}/schema.json", secret.as_uri()):
        validator = compile_validator({"type": "object", "properties": {"a": {"$ref": ref}}})
        errors = field_errors(validator, {"a": 1})
        assert "TOP-SECRET-CONTENT" not in json.dumps(errors)
        assert errors and all("outside the deployment" in m for ms in errors.values() for m in ms)
    assert hits == []


def test_a_ref_to_another_form_of_the_deployment_is_part_of_the_version(api):
    shared = json.dumps({"$defs": {"name": {"type": "string", "maxLength": 5}}})
    schema = json.loads(read("complaint-start.schema.json"))
    schema["properties"]["customer"]["properties"]["name"] = {"$ref": "shared-defs.schema.json#/$defs/name"}
    form = json.dumps(schema, ensure_ascii=False)
    response = upload(api, {"complaint-start.schema.json": form, "shared-defs.schema.json": shared})
    assert response.status_code == 201, response.get_json()
    listed = api.get("/api/v1/processes/complaint/versions/2/files", "li.na").get_json()
    assert "shared-defs.schema.json" in {f["name"] for f in listed["files"]}
    assert version_file(api, "complaint", 2, "shared-defs.schema.json") == shared
    # The referenced schema, from the version itself, is what checks the data.
    refused = api.post(
        "/api/v1/cases",
        "li.na",
        json={"process": "complaint", "data": start_data(customer={"name": "abcdefg"})},
    )
    assert refused.status_code == 422, refused.get_json()
    assert list(refused.get_json()["errors"]) == ["customer.name"]
    assert api.start()["version"] == 2


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"^(a)\1$", "invalid escape sequence"),
        (r"^(?=a)a+$", "invalid perl operator"),
        (r"^(?<!b)a$", "invalid perl operator"),
    ],
)
def test_a_pattern_without_a_linear_time_match_is_refused_at_deploy(api, pattern, why):
    form = _escalation_with(properties={"note": {"type": "string", "pattern": pattern}})
    [problem] = problems_of(upload(api, {"escalation.schema.json": form}))
    assert problem["file"] == "escalation.schema.json"
    assert pattern in problem["message"] and why in problem["message"]
    assert '"pattern"' in form.splitlines()[problem["line"] - 1]


def _start_form_with_name_pattern(where: str) -> str:
    schema = json.loads(read("complaint-start.schema.json"))
    customer = schema["properties"]["customer"]
    if where == "pattern":
        customer["properties"]["name"]["pattern"] = "^(a+)+$"
    else:
        customer["patternProperties"] = {"^(x+)+$": {"type": "integer"}}
    return json.dumps(schema, ensure_ascii=False)


@pytest.mark.parametrize("where", ["pattern", "patternProperties"])
def test_a_backtracking_pattern_answers_at_once(api, where):
    """`^(a+)+$` against 25 characters took Python's regex engine seconds; RE2 takes microseconds."""
    response = upload(api, {"complaint-start.schema.json": _start_form_with_name_pattern(where)})
    assert response.status_code == 201, response.get_json()
    hostile = "a" * 25 + "!" if where == "pattern" else "x" * 25 + "!"
    customer = {"name": hostile} if where == "pattern" else {hostile: "whatever", "x": "not an integer"}
    began = time.monotonic()
    refused = api.post(
        "/api/v1/cases", "li.na", json={"process": "complaint", "data": start_data(customer=customer)}
    )
    elapsed = time.monotonic() - began
    assert refused.status_code == 422, refused.get_json()
    expected_field = "customer.name" if where == "pattern" else "customer.x"
    assert expected_field in refused.get_json()["errors"]
    assert elapsed < 1.0


@pytest.mark.parametrize(
    "draft",
    [
        "http://json-schema.org/draft-03/schema#",
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
        None,
    ],
)
def test_every_draft_checks_patterns_in_linear_time(draft):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    if draft:
        schema["$schema"] = draft
    hostile = {"name": "a" * 24 + "!", "x" * 24 + "!": "not checked", "x": "not an integer"}
    began = time.monotonic()
    errors = field_errors(compile_validator(schema), hostile)
    assert time.monotonic() - began < 0.5
    assert set(errors) == {"name", "x", "x" * 24 + "!"}


# ---- 10. every problem at once, located


def test_every_problem_of_a_bpmn_is_reported_at_once_with_element_and_line(api):
    bpmn = (
        read("complaint_handling.bpmn")
        .replace("<bpmn:laneSet", "<bpmn:notAnElement /><bpmn:laneSet", 1)
        .replace('handling_path == "service"', "handling_path ==")
        .replace('value="follow-up-visit.schema.json"', 'value="visit.schema.json"')
        .replace('calledElement="major_quality_incident"', 'calledElement="major_incident_x"')
        .replace("<bpmn:flowNodeRef>reply_to_customer</bpmn:flowNodeRef>", "")
    )
    complaint = read("complaint.bpmn").replace(">complaint_routing<", ">complaint_routes<")
    problems = problems_of(upload(api, {"complaint_handling.bpmn": bpmn, "complaint.bpmn": complaint}))
    found = {(p["file"], p["element_id"]): p for p in problems}
    assert set(found) == {
        ("complaint_handling.bpmn", "complaint_handling"),  # notAnElement sits in the process
        ("complaint_handling.bpmn", "flow_leads_route_to_investigate_service"),
        ("complaint_handling.bpmn", "follow_up_visit"),
        ("complaint_handling.bpmn", "handle_major_incident"),
        ("complaint_handling.bpmn", "reply_to_customer"),
        ("complaint.bpmn", "decide_handling_path"),
        ("complaint.bpmn", "reroute_reopened"),
    }, problems
    for problem in problems:
        assert isinstance(problem["line"], int), problem
    text = {"complaint_handling.bpmn": bpmn, "complaint.bpmn": complaint}
    called = found[("complaint_handling.bpmn", "handle_major_incident")]
    assert "major_incident_x" in called["message"]
    assert 'id="handle_major_incident"' in text["complaint_handling.bpmn"].splitlines()[called["line"] - 1]
    decision = found[("complaint.bpmn", "decide_handling_path")]
    assert 'id="decide_handling_path"' in complaint.splitlines()[decision["line"] - 1]
    assert not any("was not found" in p["message"] for p in problems)  # no misleading follow-ons
    assert versions(api, "complaint") == [1] and versions(api, "complaint_handling") == [1]


def test_every_schema_error_of_a_bpmn_is_reported(api):
    bpmn = read("complaint_handling.bpmn")
    for task, bogus in (("reply_to_customer", "bogusOne"), ("follow_up_visit", "bogusTwo")):
        bpmn = re.sub(rf'(<bpmn:userTask id="{task}"[^>]*>)', rf"\1<bpmn:{bogus} />", bpmn)
    problems = problems_of(upload(api, {"complaint_handling.bpmn": bpmn}))
    located = {(p["element_id"], p["line"]) for p in problems if "bogus" in p["message"]}
    lines = bpmn.splitlines()
    assert {element for element, _ in located} == {"reply_to_customer", "follow_up_visit"}
    for element, line in located:
        assert f'id="{element}"' in lines[line - 1]


def test_every_schema_error_of_a_dmn_is_reported_and_not_repeated_by_its_callers(api):
    dmn = read("approval_levels.dmn")
    for rule, bogus in (("rule_level_large_compensation", "bogusOne"), ("rule_level_default", "bogusTwo")):
        dmn = re.sub(rf'(<rule id="{rule}"[^>]*>)', rf"\1<{bogus} />", dmn)
    problems = problems_of(upload(api, {"approval_levels.dmn": dmn}))
    assert {(p["file"], p["element_id"]) for p in problems} == {
        ("approval_levels.dmn", "rule_level_large_compensation"),
        ("approval_levels.dmn", "rule_level_default"),
    }, problems
    lines = dmn.splitlines()
    for problem in problems:
        assert f'id="{problem["element_id"]}"' in lines[problem["line"] - 1]


@pytest.mark.parametrize(
    "form",
    [
        '{"type": "object", "properties": {"a": {"type": "text"}}}',
        '{"$schema": "http://127.0.0.1:9/metaschema.json", "type": "object"}',
        '{"$schema": ["x"], "type": "object"}',
        '{"type": "object", "required": "a"}',
        "[1, 2]",
        '{"properties": {"a": {"minLength": -1}}}',
    ],
)
def test_an_invalid_form_is_refused_even_when_no_process_uses_it(api, form):
    [problem] = problems_of(upload(api, {"draft-form.schema.json": form}))
    assert problem["file"] == "draft-form.schema.json"
    assert problem["message"].startswith(("not a valid JSON Schema", "a form schema must be", "$schema"))


def test_a_form_problem_names_its_place_and_line(api):
    form = json.dumps(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "text"}}}, indent=2
    )
    [problem] = problems_of(upload(api, {"draft-form.schema.json": form}))
    assert problem["element_id"] == "properties/b/type"
    assert form.splitlines()[problem["line"] - 1].strip() == '"type": "text"'


def test_a_form_nested_too_deeply_is_refused_not_a_crash(api):
    [problem] = problems_of(upload(api, {"draft-form.schema.json": "[" * 100_000 + "]" * 100_000}))
    assert problem["file"] == "draft-form.schema.json" and "nested too deeply" in problem["message"]


def test_a_form_without_schema_keyword_is_checked_as_draft_2020_12(api):
    assert upload(api, {"draft-form.schema.json": '{"type": "object"}'}).status_code == 200
    [problem] = problems_of(upload(api, {"draft-form.schema.json": '{"prefixItems": 3}'}))
    assert problem["message"].startswith("not a valid JSON Schema at prefixItems")


# ---- 10. the decision tester


def _dmn_inputs(dmn: str) -> list[str]:
    from engine.definitions.decisions import load_decisions

    engine = load_decisions({dmn: read(dmn)})
    return [column.expression for engine in engine.values() for column in engine.decision_table.inputs]


SLA_INPUTS = {"priority": "urgent"}
LEVEL_INPUTS = {"remedy": "compensation", "signoff_amount": 800}


@pytest.mark.parametrize(
    ("decision", "inputs", "missing"),
    [("sla_deadlines", SLA_INPUTS, name) for name in SLA_INPUTS]
    + [("approval_levels", LEVEL_INPUTS, name) for name in LEVEL_INPUTS],
)
def test_the_decision_tester_names_a_missing_input(api, decision, inputs, missing):
    partial = {k: v for k, v in inputs.items() if k != missing}
    response = api.post(f"/api/v1/decisions/{decision}/evaluate", "zhou.hao", json={"inputs": partial})
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["inputs"]
    assert f"'{missing}' is missing" in message and "SimpleNamespace" not in message


def test_the_decision_tester_names_each_missing_input_once(api):
    response = api.post("/api/v1/decisions/complaint_urgency/evaluate", "zhou.hao", json={"inputs": {}})
    assert response.status_code == 422
    messages = response.get_json()["errors"]["inputs"]
    names = [m.split("'")[1] for m in messages]
    assert sorted(names) == ["channel", "customer", "facts", "flags", "problem"]
    assert all(m.startswith("input '") and "is missing" in m for m in messages)


@pytest.mark.parametrize(
    ("decision", "inputs", "name", "value", "type_ref"),
    [
        ("sla_deadlines", SLA_INPUTS, "priority", 5, "string"),
        ("sla_deadlines", SLA_INPUTS, "priority", ["urgent"], "string"),
        ("approval_levels", LEVEL_INPUTS, "signoff_amount", "800", "number"),
        ("approval_levels", LEVEL_INPUTS, "signoff_amount", True, "number"),
        ("approval_levels", LEVEL_INPUTS, "remedy", {"a": 1}, "string"),
    ],
)
def test_the_decision_tester_names_a_mistyped_input(api, decision, inputs, name, value, type_ref):
    body = {"inputs": {**inputs, name: value}}
    response = api.post(f"/api/v1/decisions/{decision}/evaluate", "zhou.hao", json=body)
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["inputs"]
    assert f"input {name} should be a {type_ref}" in message


def test_the_decision_tester_reads_a_nested_input_by_its_expression(api):
    response = api.post(
        "/api/v1/decisions/complaint_routing/evaluate",
        "zhou.hao",
        json={"inputs": {"request": "repair", "problem": {}, "reopen_count": 0, "repeat_repair_step": ""}},
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["inputs"]
    assert 'problem["category"]' in message and "category" in message


@pytest.mark.parametrize(
    ("decision", "inputs"),
    [
        ("sla_deadlines", SLA_INPUTS),
        (
            "complaint_urgency",
            {
                "channel": "media",
                "flags": {},
                "facts": {"repeat": True, "batch_ordinary_complaints": 1, "batch_vip_customers": 0},
                "customer": {},
                "problem": {"category": "inquiry"},
            },
        ),
    ],
)
def test_the_decision_tester_evaluates_each_output_of_each_hit_once(engine, api, decision, inputs):
    environment = engine.ctx.script_engine.environment
    evaluated: list[str] = []
    real_evaluate = environment.evaluate

    def counting(expression, context, external_context=None):
        evaluated.append(expression)
        return real_evaluate(expression, context, external_context)

    environment.evaluate = counting
    try:
        response = api.post(f"/api/v1/decisions/{decision}/evaluate", "zhou.hao", json={"inputs": inputs})
    finally:
        del environment.evaluate
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    table = engine.deployments._decision_engines()[decision].decision_table
    rules = {rule.id: rule for rule in table.rules}
    outputs = [entry.text for hit in body["matched_rules"] for entry in rules[hit["id"]].outputEntries]
    assert outputs
    assert sum(1 for expression in evaluated if expression in outputs) == len(outputs)


# ---- 11. processes only ever called


@pytest.mark.parametrize("process", ["complaint_handling", "major_quality_incident"])
def test_a_process_only_ever_called_cannot_be_started(api, process):
    response = api.post("/api/v1/cases", "li.na", json={"process": process, "data": start_data()})
    assert response.status_code == 422, response.get_json()
    assert "cannot be started directly" in response.get_json()["detail"]
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 0
    assert api.start()["process"] == "complaint"


# ---- the files of a version


def test_the_files_of_a_version(api):
    listed = api.get("/api/v1/processes/complaint/versions/1/files", "li.na")
    assert listed.status_code == 200
    files = {f["name"]: f for f in listed.get_json()["files"]}
    assert {"complaint.bpmn", "complaint_handling.bpmn", "sla_deadlines.dmn"} <= set(files)
    assert "complaint-start.schema.json" in files and files["sla_deadlines.dmn"]["kind"] == "dmn"
    table = api.get("/api/v1/processes/complaint/versions/1/files/sla_deadlines.dmn", "li.na")
    assert table.mimetype == "application/xml" and table.get_data(as_text=True) == read("sla_deadlines.dmn")
    assert files["sla_deadlines.dmn"]["size"] == len(read("sla_deadlines.dmn").encode())
    form = api.get("/api/v1/processes/complaint/versions/1/files/complaint-start.schema.json", "li.na")
    assert form.mimetype == "application/json"
    assert form.get_json() == json.loads(read("complaint-start.schema.json"))
    for missing in (
        "/api/v1/processes/complaint/versions/1/files/nope.dmn",
        "/api/v1/processes/complaint/versions/9/files",
        "/api/v1/processes/complaint/versions/0/files/sla_deadlines.dmn",
        "/api/v1/processes/nope/versions/1/files",
    ):
        assert api.get(missing, "li.na").status_code == 404, missing


# ---- 14. the command line stays inside the folder it deploys


def test_read_folder_refuses_a_link_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "object"}', encoding="utf-8")
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "inside.schema.json").write_text('{"type": "object"}', encoding="utf-8")
    (folder / "alias.schema.json").symlink_to(folder / "inside.schema.json")
    assert set(read_folder(folder)) == {"inside.schema.json", "alias.schema.json"}
    (folder / "x.schema.json").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the folder"):
        read_folder(folder)


@pytest.mark.slow
def test_cli_deploy_does_not_follow_a_link_out_of_the_folder(database_url, api, tmp_path):
    folder = tmp_path / "forms"
    folder.mkdir()
    outside = tmp_path / "elsewhere.json"
    outside.write_text(_escalation_with(title="from outside the folder"), encoding="utf-8")
    (folder / "escalation.schema.json").symlink_to(outside)
    env = {**os.environ, "COMPLAINTS_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "api", "deploy", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "outside the folder" in result.stderr
    assert versions(api, "complaint") == [1]


# ---- what changed between two versions


def test_the_diff_of_two_versions_names_what_changed_by_id(api):
    sla = read("sla_deadlines.dmn").replace(SLA_ORDINARY_ACK, SLA_ORDINARY_ACK.replace(">24<", ">12<"))
    moved = read("complaint.bpmn").replace(
        '<dc:Bounds x="120" y="60" width="2000"', '<dc:Bounds x="140" y="60" width="2000"'
    )
    bpmn = read("complaint_handling.bpmn").replace('handling_path == "service"', 'handling_path == "svc"')
    start_form = json.loads(read("complaint-start.schema.json"))
    start_form["properties"]["customer"]["properties"]["name"]["maxLength"] = 50
    start_form["properties"]["note"] = {"type": "string", "title": "备注 Note"}
    response = upload(
        api,
        {
            "sla_deadlines.dmn": sla,
            "complaint.bpmn": moved,
            "complaint_handling.bpmn": bpmn,
            "complaint-start.schema.json": json.dumps(start_form, ensure_ascii=False),
        },
    )
    assert response.status_code == 201, response.get_json()

    diff = api.get("/api/v1/processes/complaint/versions/1/diff/2", "li.na")
    assert diff.status_code == 200, diff.get_json()
    body = diff.get_json()
    assert (body["key"], body["from_version"], body["to_version"]) == ("complaint", 1, 2)
    files = {f["name"]: f for f in body["files"]}
    assert set(files) == {"sla_deadlines.dmn", "complaint_handling.bpmn", "complaint-start.schema.json"}
    assert [e["id"] for e in files["sla_deadlines.dmn"]["changed"]] == ["rule_sla_ordinary_out_1"]
    assert [e["id"] for e in files["complaint_handling.bpmn"]["changed"]] == [
        "flow_leads_route_to_investigate_service"
    ]
    form = files["complaint-start.schema.json"]
    assert form["added"] == [{"id": "note", "type": "field", "name": "备注 Note"}]
    assert [e["id"] for e in form["changed"]] == ["customer.name"] and form["removed"] == []
    assert all(f["status"] == "changed" for f in files.values())

    back = api.get("/api/v1/processes/complaint/versions/2/diff/1", "li.na").get_json()
    back_form = {f["name"]: f for f in back["files"]}["complaint-start.schema.json"]
    assert [e["id"] for e in back_form["removed"]] == ["note"]
    assert api.get("/api/v1/processes/complaint/versions/2/diff/2", "li.na").get_json()["files"] == []
    assert api.get("/api/v1/processes/complaint/versions/1/diff/3", "li.na").status_code == 404
    assert api.get("/api/v1/processes/nope/versions/1/diff/1", "li.na").status_code == 404
