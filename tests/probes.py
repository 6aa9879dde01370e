"""Tiny BPMN processes the tests deploy to probe one engine behaviour at a time."""

from __future__ import annotations

from xml.sax.saxutils import escape

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def timer_then_script(key: str, timer_expression: str, script: str) -> str:
    """start → timer (timeDuration expression) → script → user task (agents) → end."""
    return (
        HEADER.format(key=key) + f'  <bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
        f'    <bpmn:laneSet id="lanes_{key}"><bpmn:lane id="lane_{key}" name="agents">'
        "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>wait</bpmn:flowNodeRef>"
        "<bpmn:flowNodeRef>after_wait</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef>"
        "<bpmn:flowNodeRef>done</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>\n"
        '    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:intermediateCatchEvent id="wait" name="Wait"><bpmn:incoming>f1</bpmn:incoming>'
        '<bpmn:outgoing>f2</bpmn:outgoing><bpmn:timerEventDefinition id="wait_timer">'
        f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(timer_expression)}</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        '    <bpmn:scriptTask id="after_wait" name="After the wait"><bpmn:incoming>f2</bpmn:incoming>'
        f"<bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>\n"
        '    <bpmn:userTask id="check" name="Check"><bpmn:incoming>f3</bpmn:incoming>'
        "<bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>\n"
        '    <bpmn:endEvent id="done" name="Done"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />\n'
        '    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after_wait" />\n'
        '    <bpmn:sequenceFlow id="f3" sourceRef="after_wait" targetRef="check" />\n'
        '    <bpmn:sequenceFlow id="f4" sourceRef="check" targetRef="done" />\n'
        "  </bpmn:process>\n</bpmn:definitions>\n"
    )
