"""A loop's repeated steps left out of the stored task tree (`serializer.repeated_steps`), on a
diagram of its own: a loop inside one branch of a parallel split, the join after it, and a loop
around a user task after the join. The case is saved and loaded between every step, as the
service does, once with the steps left out and once without; both must run alike."""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine import serializer
from engine.case_paths import case_markers

_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="test">
  <bpmn:process id="loops" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>n = 0
rounds = 0
trail = []</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="fork"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="wait_a"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="count"><bpmn:incoming>fb</bpmn:incoming><bpmn:incoming>fb4</bpmn:incoming>
      <bpmn:outgoing>fb2</bpmn:outgoing><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="more" default="fb5"><bpmn:incoming>fb2</bpmn:incoming>
      <bpmn:outgoing>fb3</bpmn:outgoing><bpmn:outgoing>fb5</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="again"><bpmn:incoming>fb3</bpmn:incoming><bpmn:outgoing>fb4</bpmn:outgoing>
      <bpmn:script>trail = trail + ["b" + str(n)]</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fb5</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="work"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:exclusiveGateway id="done" default="f7"><bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing><bpmn:outgoing>f7</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="bump"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
      <bpmn:script>rounds = rounds + 1
trail = trail + ["w" + str(rounds)]</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init" />
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="fork" />
    <bpmn:sequenceFlow id="fa" sourceRef="fork" targetRef="wait_a" />
    <bpmn:sequenceFlow id="fa2" sourceRef="wait_a" targetRef="join" />
    <bpmn:sequenceFlow id="fb" sourceRef="fork" targetRef="count" />
    <bpmn:sequenceFlow id="fb2" sourceRef="count" targetRef="more" />
    <bpmn:sequenceFlow id="fb3" sourceRef="more" targetRef="again">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">n &lt; 6</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb4" sourceRef="again" targetRef="count" />
    <bpmn:sequenceFlow id="fb5" sourceRef="more" targetRef="join" />
    <bpmn:sequenceFlow id="f3" sourceRef="join" targetRef="work" />
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="done" />
    <bpmn:sequenceFlow id="f5" sourceRef="done" targetRef="bump">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">rounds &lt; 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="bump" targetRef="work" />
    <bpmn:sequenceFlow id="f7" sourceRef="done" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _saved_and_loaded(states: serializer.StateSerializer, workflow: BpmnWorkflow) -> tuple[BpmnWorkflow, int]:
    """The workflow as the next request sees it, and how many steps its saved tree left out."""
    left_out = len(serializer.repeated_steps(workflow, serializer.spent_tasks(workflow)))
    text = states.dump_state(workflow)
    loaded = states.load_state(text, workflow.spec, workflow.subprocess_specs, workflow.script_engine)
    assert states.dump_state(loaded) == text
    return loaded, left_out


def _run(leave_out: bool, monkeypatch) -> tuple[list[dict[str, Any]], int]:
    """Every step of a case of `loops`: what a person and the case's diagram would see."""
    if not leave_out:
        monkeypatch.setattr(serializer, "repeated_steps", lambda workflow, spent: [])
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_BPMN.encode(), filename="loops.bpmn")
    spec, subprocess_specs = parser.get_spec("loops"), parser.get_subprocess_specs("loops")
    states = serializer.StateSerializer()
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=PythonScriptEngine())
    workflow.do_engine_steps()
    seen: list[dict[str, Any]] = []
    most_left_out = 0
    for step in range(12):
        workflow, left_out = _saved_and_loaded(states, workflow)
        most_left_out = max(most_left_out, left_out)
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        completed, active = case_markers(workflow)
        seen.append(
            {
                "ready": sorted(task.task_spec.name for task in ready),
                "completed": {k: sorted(v) for k, v in completed.items()},
                "active": {k: sorted(v) for k, v in active.items()},
                "done": workflow.is_completed(),
            }
        )
        if workflow.is_completed():
            break
        # One ready task at a time, the branch's own first: the join waits for `wait_a` at step 0.
        task = sorted(ready, key=lambda t: t.task_spec.name)[0]
        task.data["step"] = step
        task.run()
        workflow.do_engine_steps()
    seen.append({"data": json.loads(json.dumps(workflow.data, default=str))})
    return seen, most_left_out


def test_loops_in_a_branch_and_after_a_join_run_alike_with_their_repeats_left_out(monkeypatch):
    compact, left_out = _run(True, monkeypatch)
    whole, none_left_out = _run(False, monkeypatch)
    assert left_out >= 5 and none_left_out == 0  # the steps were left out in the first run only
    assert compact == whole
    assert compact[-2]["done"] is True
    data = compact[-1]["data"]
    assert data["rounds"] == 5 and data["trail"][-5:] == ["w1", "w2", "w3", "w4", "w5"]
    assert {"count", "more", "again", "join", "work", "done", "bump", "end"} <= set(
        compact[-2]["completed"]["loops"]
    )
    # The join waited for the other branch once the loop beside it had finished.
    assert compact[0]["ready"] == ["wait_a"] and compact[1]["ready"] == ["work"]
