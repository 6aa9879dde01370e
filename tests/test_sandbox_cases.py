"""The sandbox end to end: hostile diagrams, tables and case data through deployments and real cases.

Each case runs through the Flask app and the database (SQLite and PostgreSQL): a refused escape
leaves the deployment undeployed, a limit puts the case in `error` naming the element and the
reason, and nothing happens on the machine. The policy unit by unit: `test_sandbox_policy.py`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pytest

from engine import sandbox

from .sandbox_support import NESTED_LOOPS, PAYLOAD, Machine
from .support import auth, start_data

# RestrictedPython's own compile-time notes ("Match statement is not known", "Prints, but never
# reads 'printed'"), which the sandbox silences too.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


def test_a_script_that_runs_too_long_leaves_its_case_in_error(api, machine, monkeypatch):
    monkeypatch.setattr(sandbox, "SCRIPT_TIME_LIMIT_S", 0.2)
    response = upload(api, {"probe_loops.bpmn": script_task_process("probe_loops", NESTED_LOOPS)})
    assert response.status_code == 201, response.get_json()
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_loops", "data": {}})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "error"
    assert case["error"]["element_id"] == "run_script"
    assert "ran longer than 0.2 s" in case["error"]["message"]
    assert "n" not in case["data"]
    machine.assert_untouched()


# ---- over HTTP: hostile case data, deployable-but-guarded scripts, refused deployments


def upload(api, files: dict[str, str]):
    payload = {
        f"file{i}": (io.BytesIO(content.encode("utf-8")), name)
        for i, (name, content) in enumerate(files.items())
    }
    return api.client.post(
        "/api/v1/deployments", data=payload, headers=auth("zhou.hao"), content_type="multipart/form-data"
    )


def processes(api) -> dict:
    response = api.get("/api/v1/processes?per_page=100", "zhou.hao")
    assert response.status_code == 200
    return response.get_json()


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of `text` on which `fragment` first appears."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in the file")


BPMN_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' id="definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def process(key: str, node_ids: list[str], body: str) -> str:
    """An executable process with every node in the `agents` lane."""
    refs = "".join(f"\n        <bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in node_ids)
    return (
        BPMN_HEADER.format(key=key)
        + f'  <bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
        + f'    <bpmn:laneSet id="lanes_{key}">\n'
        + f'      <bpmn:lane id="lane_{key}" name="agents">{refs}\n      </bpmn:lane>\n'
        + "    </bpmn:laneSet>\n"
        + body
        + "  </bpmn:process>\n</bpmn:definitions>\n"
    )


def script_task_process(key: str, script_text: str, pre_script: str | None = None) -> str:
    """start → scriptTask `run_script` → end."""
    extensions = (
        "      <bpmn:extensionElements>\n"
        f"        <spiffworkflow:preScript>{escape(pre_script)}</spiffworkflow:preScript>\n"
        "      </bpmn:extensionElements>\n"
        if pre_script
        else ""
    )
    return process(
        key,
        ["start", "run_script", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:scriptTask id="run_script" name="Run the script">\n'
        + extensions
        + "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        f"      <bpmn:script>{escape(script_text)}</bpmn:script>\n"
        "    </bpmn:scriptTask>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="run_script" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="run_script" targetRef="done" />\n',
    )


def gateway_process(key: str, condition: str) -> str:
    """start → exclusive gateway → `flow_hostile` (with the condition) or the default flow."""
    return process(
        key,
        ["start", "route", "end_hostile", "end_default"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:exclusiveGateway id="route" default="flow_default">\n'
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_hostile</bpmn:outgoing>\n"
        "      <bpmn:outgoing>flow_default</bpmn:outgoing>\n"
        "    </bpmn:exclusiveGateway>\n"
        '    <bpmn:endEvent id="end_hostile"><bpmn:incoming>flow_hostile</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:endEvent id="end_default"><bpmn:incoming>flow_default</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="route" />\n'
        '    <bpmn:sequenceFlow id="flow_hostile" sourceRef="route" targetRef="end_hostile">\n'
        f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>\n'
        "    </bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="flow_default" sourceRef="route" targetRef="end_default" />\n',
    )


def timer_process(key: str, duration: str) -> str:
    """start → intermediate timer `wait` (timeDuration expression) → end."""
    return process(
        key,
        ["start", "wait", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:intermediateCatchEvent id="wait" name="Wait">\n'
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        '      <bpmn:timerEventDefinition id="wait_timer">\n'
        f'        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(duration)}</bpmn:timeDuration>\n'
        "      </bpmn:timerEventDefinition>\n"
        "    </bpmn:intermediateCatchEvent>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="wait" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="wait" targetRef="done" />\n',
    )


def decision_process(key: str, decision_id: str) -> str:
    """start → businessRuleTask `decide` (the decision) → end: what makes a table part of a version."""
    return process(
        key,
        ["start", "decide", "done"],
        '    <bpmn:startEvent id="start"><bpmn:outgoing>flow_start</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:businessRuleTask id="decide" name="Decide">\n'
        "      <bpmn:extensionElements>\n"
        f"        <spiffworkflow:calledDecisionId>{decision_id}</spiffworkflow:calledDecisionId>\n"
        "      </bpmn:extensionElements>\n"
        "      <bpmn:incoming>flow_start</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_done</bpmn:outgoing>\n"
        "    </bpmn:businessRuleTask>\n"
        '    <bpmn:endEvent id="done"><bpmn:incoming>flow_done</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="decide" />\n'
        '    <bpmn:sequenceFlow id="flow_done" sourceRef="decide" targetRef="done" />\n',
    )


def decision_table(key: str, input_entry: str, output_entry: str) -> str:
    """One decision, one input (`amount`), one rule `rule_hostile`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="definitions_{key}" name="{key}"'
        ' namespace="http://complaints.example/dmn">\n'
        f'  <decision id="{key}" name="{key}">\n'
        f'    <decisionTable id="{key}_table" hitPolicy="FIRST">\n'
        '      <input id="input_amount" label="Amount">'
        '<inputExpression id="input_amount_expression" typeRef="number"><text>amount</text></inputExpression></input>\n'
        '      <output id="output_level" label="Level" name="level" typeRef="string" />\n'
        '      <rule id="rule_hostile">\n'
        f'        <inputEntry id="rule_hostile_in"><text>{escape(input_entry)}</text></inputEntry>\n'
        f'        <outputEntry id="rule_hostile_out"><text>{escape(output_entry)}</text></outputEntry>\n'
        "      </rule>\n"
        "    </decisionTable>\n"
        "  </decision>\n"
        "</definitions>\n"
    )


@dataclass
class HostileUpload:
    """A file with an escape in one element, and exactly the problems the service must report."""

    file: str
    text: str
    element_id: str
    fragment: str  # on the line each problem must name
    messages: list[str]  # in the order the service reports them (by message, on one line)
    process_key: str  # the process that must not be deployed
    companions: dict[str, str] = field(default_factory=dict)  # harmless files uploaded with it

    @property
    def files(self) -> dict[str, str]:
        return {self.file: self.text, **self.companions}

    def expected_problems(self) -> list[dict]:
        line = line_of(self.text, self.fragment)
        return [
            {"file": self.file, "element_id": self.element_id, "line": line, "message": message}
            for message in self.messages
        ]


def _attribute_message(name: str) -> str:
    return f'"{name}" is an invalid attribute name because it starts with "_".'


DUNDER_WALK_MESSAGES = [_attribute_message(n) for n in ("__bases__", "__class__", "__subclasses__")]

HOSTILE_UPLOADS = [
    pytest.param(
        HostileUpload(
            "probe_import.bpmn",
            script_task_process("probe_import", "checked = True\nimport os\nos.system('touch /tmp/pwned')"),
            "run_script",
            "import os",
            ["import is not allowed in process scripts"],
            "probe_import",
        ),
        id="script-import-os",
    ),
    pytest.param(
        HostileUpload(
            "probe_walk.bpmn",
            script_task_process(
                "probe_walk", "checked = True\nclasses = ().__class__.__bases__[0].__subclasses__()"
            ),
            "run_script",
            "classes = ()",
            DUNDER_WALK_MESSAGES,
            "probe_walk",
        ),
        id="script-dunder-walk",
    ),
    pytest.param(
        HostileUpload(
            "probe_open.bpmn",
            script_task_process("probe_open", "secrets = open('/etc/passwd').read()"),
            "run_script",
            "secrets = open",
            ['"open" is not available in process scripts'],
            "probe_open",
        ),
        id="script-open-etc-passwd",
    ),
    pytest.param(
        HostileUpload(
            "probe_prescript.bpmn",
            script_task_process("probe_prescript", "checked = True", pre_script="import subprocess"),
            "run_script",
            "import subprocess",
            ["import is not allowed in process scripts"],
            "probe_prescript",
        ),
        id="pre-script-import",
    ),
    pytest.param(
        HostileUpload(
            "probe_gateway.bpmn",
            gateway_process("probe_gateway", "len(().__class__.__bases__[0].__subclasses__()) > 0"),
            "flow_hostile",
            "conditionExpression",
            DUNDER_WALK_MESSAGES,
            "probe_gateway",
        ),
        id="gateway-condition-dunder-walk",
    ),
    pytest.param(
        HostileUpload(
            "probe_timer.bpmn",
            timer_process("probe_timer", "open('/etc/passwd').read()"),
            "wait",
            "timeDuration",
            ['"open" is not available in process scripts'],
            "probe_timer",
        ),
        id="timer-expression-open",
    ),
    pytest.param(
        HostileUpload(
            "probe_table.dmn",
            decision_table("probe_table", "> 100", '__import__("os")'),
            "rule_hostile",
            "outputEntry",
            ['"__import__" is an invalid variable name because it starts with "_"'],
            "probe_decide",
            {"probe_decide.bpmn": decision_process("probe_decide", "probe_table")},
        ),
        id="dmn-output-entry-import",
    ),
    pytest.param(
        HostileUpload(
            "probe_table.dmn",
            decision_table("probe_table", "== ().__class__", '"high"'),
            "rule_hostile",
            "inputEntry",
            [_attribute_message("__class__")],
            "probe_decide",
            {"probe_decide.bpmn": decision_process("probe_decide", "probe_table")},
        ),
        id="dmn-input-entry-dunder",
    ),
]


def _decision_tried(api, decision_id: str):
    return api.post(f"/api/v1/decisions/{decision_id}/evaluate", "zhou.hao", json={"inputs": {"amount": 500}})


@pytest.mark.parametrize("hostile", HOSTILE_UPLOADS)
def test_a_deployment_with_an_escape_is_refused_and_nothing_is_deployed(api, hostile: HostileUpload):
    before = processes(api)
    response = upload(api, hostile.files)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["type"] == "/problems/invalid-deployment"
    assert body["problems"] == hostile.expected_problems()
    assert processes(api) == before
    assert api.get(f"/api/v1/processes/{hostile.process_key}", "zhou.hao").status_code == 404
    assert _decision_tried(api, "probe_table").status_code == 404


def test_the_probe_templates_deploy_when_their_code_is_harmless(api):
    """So the refusals above are about the code, not about the diagrams around it."""
    files = {
        "probe_script.bpmn": script_task_process("probe_script", "checked = True", pre_script="ready = True"),
        "probe_gateway.bpmn": gateway_process("probe_gateway", "amount > 100"),
        "probe_timer.bpmn": timer_process("probe_timer", '"PT1H"'),
        "probe_table.dmn": decision_table("probe_table", "> 100", '"high"'),
        "probe_decide.bpmn": decision_process("probe_decide", "probe_table"),
    }
    response = upload(api, files)
    assert response.status_code == 201, response.get_json()
    deployed = {d["key"] for d in response.get_json()["deployed"]}
    assert deployed == {"probe_script", "probe_gateway", "probe_timer", "probe_decide"}
    tried = _decision_tried(api, "probe_table")
    assert tried.status_code == 200 and tried.get_json()["result"] == {"level": "high"}
    case = api.post("/api/v1/cases", "li.na", json={"process": "probe_decide", "data": {"amount": 500}})
    assert case.status_code == 201 and case.get_json()["data"]["level"] == "high"


def test_hostile_strings_in_case_data_stay_data(api, machine):
    script_text = "echo = payload\nsize = len(payload)\nkinds = sorted(guards)"
    response = upload(api, {"probe_data.bpmn": script_task_process("probe_data", script_text)})
    assert response.status_code == 201, response.get_json()
    payload = machine.payload(PAYLOAD)
    data = {
        "payload": payload,
        "guards": {"_getattr_": payload, "__builtins__": payload},
        "_getattr_": payload,
        "_getiter_": "lambda it: __import__('os').system('touch /tmp/pwned')",
        "_write_": {"__call__": payload},
        "__builtins__": {"__import__": payload, "open": payload},
    }
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_data", "data": data})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "completed" and case["error"] is None
    for key, value in data.items():
        assert case["data"][key] == value
    assert case["data"]["echo"] == payload
    assert case["data"]["size"] == len(payload)
    assert case["data"]["kinds"] == ["__builtins__", "_getattr_"]
    machine.assert_untouched()


def test_hostile_strings_in_a_complaint_stay_data(api, machine):
    payload = machine.payload(PAYLOAD)
    data = start_data(
        customer={"name": payload[:200]},
        problem={"description": payload, "issue_code": "__import__('os')"},
    )
    case = api.start(data)
    assert case["status"] == "running" and case["error"] is None
    assert case["data"]["customer"]["name"] == payload[:200]
    assert case["data"]["problem"]["description"] == payload
    assert case["data"]["problem"]["issue_code"] == "__import__('os')"
    machine.assert_untouched()


def test_a_deployable_format_string_is_refused_when_the_case_runs(api, machine):
    script_text = "checked = True\nleak = '{0.__globals__}'.format(now)"
    response = upload(api, {"probe_format.bpmn": script_task_process("probe_format", script_text)})
    assert response.status_code == 201, response.get_json()
    response = api.post("/api/v1/cases", "li.na", json={"process": "probe_format", "data": {}})
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "error"
    assert case["error"]["element_id"] == "run_script"
    assert (
        case["error"]["message"] == "NotImplementedError:Using the format*() methods of `str` is not safe. "
    )
    assert "leak" not in case["data"] and "checked" not in case["data"]
    machine.assert_untouched()
