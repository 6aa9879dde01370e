"""The major-incident diagrams are readable by a process owner on a laptop (issue 13).

`major_quality_incident.bpmn` and the process it calls once per remedy, `remedy_signoff.bpmn`, are
each drawn to fit 1600 px at 100 % zoom, with straight (horizontal or vertical) sequence flows that
never run through another element or along another flow, labels that sit neither on a line nor
across a lane border, and the steps nobody works (scripts, decision tables) in the `automatic` lane
only. Each rule is checked on the diagram interchange (BPMNDI) the modelers draw from.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
DIAGRAMS = [ROOT / "processes" / "major_quality_incident.bpmn", ROOT / "processes" / "remedy_signoff.bpmn"]
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
LAPTOP_WIDTH = 1600  # px at 100 %
AUTOMATIC_LANE = "automatic"
AUTOMATIC_STEPS = ("scriptTask", "businessRuleTask", "serviceTask")
PEOPLES_STEPS = ("userTask", "manualTask")
FLOW_NODES = (
    *AUTOMATIC_STEPS, *PEOPLES_STEPS, "task", "sendTask", "receiveTask", "callActivity", "subProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
)  # fmt: skip

Box = tuple[float, float, float, float]
Point = tuple[float, float]


def bounds(element) -> Box:
    b = element.find("dc:Bounds", NS)
    return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))


def shapes(tree) -> dict[str, Box]:
    return {s.get("bpmnElement"): bounds(s) for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}


def nodes(tree) -> dict[str, etree._Element]:
    return {n.get("id"): n for tag in FLOW_NODES for n in tree.iterfind(f".//bpmn:process//bpmn:{tag}", NS)}


def segments(edge) -> list[tuple[Point, Point]]:
    points = [(float(w.get("x")), float(w.get("y"))) for w in edge.iterfind("di:waypoint", NS)]
    return list(pairwise(points))


def labels(tree) -> list[tuple[str, Box]]:
    found = []
    for di in [*tree.iterfind(".//bpmndi:BPMNShape", NS), *tree.iterfind(".//bpmndi:BPMNEdge", NS)]:
        label = di.find("bpmndi:BPMNLabel", NS)
        if label is not None:
            found.append((di.get("bpmnElement"), bounds(label)))
    return found


def crosses_inside(a: Point, b: Point, box: Box, inset: float) -> bool:
    """Whether a segment passes through the inside of a box shrunk by `inset` on every side."""
    x, y, w, h = box
    left, right, top, bottom = x + inset, x + w - inset, y + inset, y + h - inset
    (x1, y1), (x2, y2) = a, b
    return min(x1, x2) < right and max(x1, x2) > left and min(y1, y2) < bottom and max(y1, y2) > top


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.fixture(params=DIAGRAMS, ids=lambda p: p.name)
def tree(request):
    return etree.parse(str(request.param))


def test_the_diagram_fits_a_laptop_screen_at_full_size(tree):
    xs: list[float] = []
    for x, _y, w, _h in [*shapes(tree).values(), *(box for _, box in labels(tree))]:
        xs += [x, x + w]
    for edge in tree.iterfind(".//bpmndi:BPMNEdge", NS):
        xs += [p[0] for segment in segments(edge) for p in segment]
    assert max(xs) - min(xs) <= LAPTOP_WIDTH


def test_flows_are_straight_and_run_through_no_element(tree):
    drawn = shapes(tree)
    for flow in tree.iterfind(".//bpmn:sequenceFlow", NS):
        edge = tree.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", NS)
        ends = {flow.get("sourceRef"), flow.get("targetRef")}
        for a, b in segments(edge):
            assert a[0] == b[0] or a[1] == b[1], f"{flow.get('id')} has a slanted segment"
            for node_id, node in nodes(tree).items():
                if node_id in ends or node.get("attachedToRef") in ends:
                    continue
                assert not crosses_inside(a, b, drawn[node_id], inset=0.5), (
                    f"{flow.get('id')} runs through {node_id}"
                )


def test_no_flow_runs_along_another(tree):
    drawn = [
        (edge.get("bpmnElement"), segment)
        for edge in tree.iterfind(".//bpmndi:BPMNEdge", NS)
        for segment in segments(edge)
    ]
    for i, (a_id, ((ax1, ay1), (ax2, ay2))) in enumerate(drawn):
        for b_id, ((bx1, by1), (bx2, by2)) in drawn[i + 1 :]:
            if a_id == b_id:
                continue
            if ax1 == ax2 == bx1 == bx2:
                shared = min(max(ay1, ay2), max(by1, by2)) - max(min(ay1, ay2), min(by1, by2))
            elif ay1 == ay2 == by1 == by2:
                shared = min(max(ax1, ax2), max(bx1, bx2)) - max(min(ax1, ax2), min(bx1, bx2))
            else:
                continue
            assert shared <= 0, f"{a_id} runs along {b_id}"


def test_no_label_sits_on_a_line_or_covers_an_element(tree):
    edges = list(tree.iterfind(".//bpmndi:BPMNEdge", NS))
    drawn = shapes(tree)
    for owner, box in labels(tree):
        for edge in edges:
            for a, b in segments(edge):
                assert not crosses_inside(a, b, box, inset=0), (
                    f"the label of {owner} sits on {edge.get('bpmnElement')}"
                )
        for node_id, node in nodes(tree).items():
            if node_id != owner and node.get("attachedToRef") != owner:
                assert not overlap(box, drawn[node_id]), f"the label of {owner} covers {node_id}"


def test_no_label_crosses_a_lane_border(tree):
    drawn = shapes(tree)
    lanes = [drawn[lane.get("id")] for lane in tree.iterfind(".//bpmn:lane", NS)]
    for owner, (x, y, w, h) in labels(tree):
        assert any(
            lx + 30 <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh for lx, ly, lw, lh in lanes
        ), f"the label of {owner} crosses a lane border (or sits on the lane's name)"


def test_automatic_steps_are_drawn_in_the_automatic_lane_and_peoples_work_is_not(tree):
    lane_of = {
        ref.text: lane.get("name")
        for lane in tree.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    automatic = [n for tag in AUTOMATIC_STEPS for n in tree.iterfind(f".//bpmn:process//bpmn:{tag}", NS)]
    assert automatic
    for step in automatic:
        assert lane_of.get(step.get("id")) == AUTOMATIC_LANE, f"{step.get('id')} is drawn in a people's lane"
    for tag in PEOPLES_STEPS:
        for step in tree.iterfind(f".//bpmn:process//bpmn:{tag}", NS):
            assert lane_of.get(step.get("id")) not in (None, AUTOMATIC_LANE), (
                f"{step.get('id')}: people's work"
            )


def test_every_node_is_drawn_inside_its_own_lane(tree):
    drawn = shapes(tree)
    for lane in tree.iterfind(".//bpmn:lane", NS):
        lx, ly, lw, lh = drawn[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x, y, w, h = drawn[ref.text]
            if nodes(tree)[ref.text].get("attachedToRef"):
                continue  # a boundary event sits on its host's border
            assert lx + 30 <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, ref.text
