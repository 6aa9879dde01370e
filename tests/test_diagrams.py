"""The shipped diagrams open tidily in a modeler and pass every deploy-time check.

bpmn.io and Camunda Modeler draw only what the BPMNDI describes; an element without a shape is
invisible to the process owner who has to change it.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
from lxml import etree

from engine.definitions.bundle import read_folder
from engine.definitions.checks import check_bundle
from engine.definitions.parsing import parse_bundle
from engine.identity import GROUPS

ROOT = Path(__file__).resolve().parents[1]
BPMN_FILES = sorted((ROOT / "processes").glob("*.bpmn"))
DMN_FILES = sorted((ROOT / "processes").glob("*.dmn"))
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOW_NODES = [
    "task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "manualTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway",
]  # fmt: skip
AUTOMATIC_LANE = "automatic"
AUTOMATIC_STEPS = ("scriptTask", "businessRuleTask", "serviceTask")
# Diagrams held to the readability rules of issue 13 (the others follow as they are redrawn).
READABLE = [
    p
    for p in BPMN_FILES
    if p.name
    in ("complaint.bpmn", "complaint_handling.bpmn", "major_quality_incident.bpmn", "remedy_signoff.bpmn")
]
MODELER_ID = re.compile(
    r"^(Activity|Gateway|Event|Flow|StartEvent|EndEvent|Task|Lane|Participant|DataObject)_[0-9a-z]{5,}$"
)


def test_there_are_diagrams():
    assert {p.name for p in BPMN_FILES} >= {
        "complaint.bpmn",
        "complaint_handling.bpmn",
        "major_quality_incident.bpmn",
    }


def test_processes_and_forms_parse_and_pass_every_deploy_check():
    files = {**read_folder(ROOT / "processes"), **read_folder(ROOT / "forms")}
    bundle = parse_bundle(files)
    assert bundle.problems == []
    assert check_bundle(bundle) == []
    assert {p.key for p in bundle.processes} == {
        "batch_incident",
        "complaint",
        "complaint_handling",
        "major_quality_incident",
        "remedy_signoff",
    }


def _bounds(shape):
    b = shape.find("dc:Bounds", NS)
    return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_every_element_has_a_shape_or_edge(path):
    tree = etree.parse(str(path))
    nodes = [n for tag in FLOW_NODES for n in tree.iterfind(f".//bpmn:{tag}", NS)]
    flows = list(tree.iterfind(".//bpmn:sequenceFlow", NS))
    lanes = list(tree.iterfind(".//bpmn:lane", NS))
    participants = list(tree.iterfind(".//bpmn:participant", NS))
    shapes = {s.get("bpmnElement"): s for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in tree.iterfind(".//bpmndi:BPMNEdge", NS)}
    missing = [n.get("id") for n in nodes + lanes + participants if n.get("id") not in shapes]
    missing += [f.get("id") for f in flows if f.get("id") not in edges]
    assert missing == []
    known = {n.get("id") for n in nodes + lanes + participants + flows}
    assert set(shapes) | set(edges) <= known, "DI that points at nothing"
    for shape in shapes.values():
        _x, _y, width, height = _bounds(shape)
        assert width > 0 and height > 0
    for edge in edges.values():
        assert len(edge.findall("di:waypoint", NS)) >= 2


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_layout_is_tidy_nodes_sit_in_their_lanes_and_do_not_overlap(path):
    tree = etree.parse(str(path))
    shapes = {s.get("bpmnElement"): _bounds(s) for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        lx, ly, lw, lh = shapes[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            node = tree.find(f".//*[@id='{ref.text}']")
            x, y, w, h = shapes[ref.text]
            if etree.QName(node).localname == "boundaryEvent":
                continue  # sits on its host's border
            assert lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, ref.text
    boxes = [
        (element_id, box)
        for element_id, box in shapes.items()
        if tree.find(f".//bpmn:process//*[@id='{element_id}']", NS) is not None
        and etree.QName(tree.find(f".//*[@id='{element_id}']")).localname not in ("lane", "boundaryEvent")
    ]
    for i, (a_id, (ax, ay, aw, ah)) in enumerate(boxes):
        for b_id, (bx, by, bw, bh) in boxes[i + 1 :]:
            if a_id in _ancestors(tree, b_id) or b_id in _ancestors(tree, a_id):
                continue  # a step drawn inside its (event) subprocess
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"{a_id} overlaps {b_id}"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_labels_cover_no_other_element_or_label(path):
    """A label over a task or another label is unreadable in the modeler (bpmn-js draws both)."""
    tree = etree.parse(str(path))
    boxes = []  # (owner, is a label, bounds)
    for di in tree.iterfind(".//bpmndi:BPMNShape", NS):
        owner = tree.find(f".//bpmn:process//*[@id='{di.get('bpmnElement')}']", NS)
        if owner is None or etree.QName(owner).localname == "lane":
            continue
        if etree.QName(owner).localname != "boundaryEvent":  # a boundary event sits on its host
            boxes.append((owner.get("id"), False, _bounds(di)))
    for di in [*tree.iterfind(".//bpmndi:BPMNShape", NS), *tree.iterfind(".//bpmndi:BPMNEdge", NS)]:
        label = di.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        if label is not None:
            box = tuple(float(label.get(k)) for k in ("x", "y", "width", "height"))
            boxes.append((di.get("bpmnElement"), True, box))
    for i, (a_id, a_label, (ax, ay, aw, ah)) in enumerate(boxes):
        for b_id, b_label, (bx, by, bw, bh) in boxes[i + 1 :]:
            if a_id == b_id or not (a_label or b_label):
                continue
            if a_id in _ancestors(tree, b_id) or b_id in _ancestors(tree, a_id):
                continue  # drawn inside its (event) subprocess
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"the label of {a_id if a_label else b_id} covers {b_id if a_label else a_id}"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_ids_and_names_are_meaningful(path):
    tree = etree.parse(str(path))
    for element in tree.iter():
        element_id = element.get("id") if isinstance(element.tag, str) else None
        if element_id:
            assert not MODELER_ID.match(element_id), f"generated id {element_id}"
    for tag in ["userTask", "scriptTask", "businessRuleTask", "callActivity", "startEvent", "boundaryEvent"]:
        for node in tree.iterfind(f".//bpmn:{tag}", NS):
            assert node.get("name"), f"{node.get('id')} has no name"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_lanes_are_groups_of_the_service(path):
    """A lane is a group of people, or the `automatic` lane where the steps nobody works are drawn."""
    tree = etree.parse(str(path))
    assert {lane.get("name") for lane in tree.iterfind(".//bpmn:lane", NS)} <= {*GROUPS, AUTOMATIC_LANE}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        if lane.get("name") == AUTOMATIC_LANE:
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                node = tree.find(f".//bpmn:process/*[@id='{ref.text}']", NS)
                assert etree.QName(node).localname != "userTask", (
                    f"{ref.text}: people's work in the automatic lane"
                )


@pytest.mark.parametrize("path", DMN_FILES, ids=lambda p: p.name)
def test_every_decision_has_a_diagram_shape(path):
    tree = etree.parse(str(path))
    ns = {
        "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "dmndi": "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    }
    decisions = {d.get("id") for d in tree.iterfind(".//dmn:decision", ns)}
    shapes = {s.get("dmnElementRef") for s in tree.iterfind(".//dmndi:DMNShape", ns)}
    assert decisions and decisions <= shapes


def _ancestors(tree, element_id: str) -> set[str]:
    """Ids of the (event) subprocesses an element is drawn inside."""
    node = tree.find(f".//bpmn:process//*[@id='{element_id}']", NS)
    found = set()
    while node is not None:
        node = node.getparent()
        if node is not None and etree.QName(node).localname == "subProcess":
            found.add(node.get("id"))
    return found


def _shapes(tree) -> dict[str, tuple[float, float, float, float]]:
    return {s.get("bpmnElement"): _bounds(s) for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}


def _segments(edge) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    points = [(float(w.get("x")), float(w.get("y"))) for w in edge.iterfind("di:waypoint", NS)]
    return list(pairwise(points))


def _segment_meets_box(a, b, box, inset: float = 0.5) -> bool:
    """Whether an axis-parallel segment passes through the inside of a box (its border excluded)."""
    x, y, w, h = box
    left, right, top, bottom = x + inset, x + w - inset, y + inset, y + h - inset
    (x1, y1), (x2, y2) = a, b
    if x1 == x2:
        return left < x1 < right and min(y1, y2) < bottom and max(y1, y2) > top
    if y1 == y2:
        return top < y1 < bottom and min(x1, x2) < right and max(x1, x2) > left
    return min(x1, x2) < right and max(x1, x2) > left and min(y1, y2) < bottom and max(y1, y2) > top


def _flow_nodes(tree):
    return {n.get("id"): n for tag in FLOW_NODES for n in tree.iterfind(f".//bpmn:process//bpmn:{tag}", NS)}


def flows_through_elements(tree) -> list[str]:
    """Slanted segments, and flows drawn through an element that is neither their source nor target."""
    shapes = _shapes(tree)
    nodes = _flow_nodes(tree)
    problems = []
    for flow in tree.iterfind(".//bpmn:sequenceFlow", NS):
        edge = tree.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", NS)
        ends = {flow.get("sourceRef"), flow.get("targetRef")}
        inside = _ancestors(tree, flow.get("id"))
        for a, b in _segments(edge):
            if not (a[0] == b[0] or a[1] == b[1]):
                problems.append(f"{flow.get('id')} has a slanted segment")
            for node_id, node in nodes.items():
                if node_id in ends or node_id in inside or node.get("attachedToRef") in ends:
                    continue
                if _segment_meets_box(a, b, shapes[node_id]):
                    problems.append(f"{flow.get('id')} runs through {node_id}")
    return problems


def flows_along_each_other(tree) -> list[str]:
    """Pairs of flows drawn over the same stretch of line."""
    drawn = [
        (edge.get("bpmnElement"), segment)
        for edge in tree.iterfind(".//bpmndi:BPMNEdge", NS)
        for segment in _segments(edge)
    ]
    problems = []
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
            if shared > 0:
                problems.append(f"{a_id} runs along {b_id}")
    return problems


def _labels(tree):
    for di in [*tree.iterfind(".//bpmndi:BPMNShape", NS), *tree.iterfind(".//bpmndi:BPMNEdge", NS)]:
        label = di.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        if label is not None:
            yield di.get("bpmnElement"), tuple(float(label.get(k)) for k in ("x", "y", "width", "height"))


def labels_on_lines(tree) -> list[str]:
    edges = list(tree.iterfind(".//bpmndi:BPMNEdge", NS))
    return [
        f"the label of {owner} sits on {edge.get('bpmnElement')}"
        for owner, box in _labels(tree)
        for edge in edges
        if any(_segment_meets_box(a, b, box, inset=0) for a, b in _segments(edge))
    ]


def labels_across_lanes(tree) -> list[str]:
    shapes = _shapes(tree)
    lanes = [shapes[lane.get("id")] for lane in tree.iterfind(".//bpmn:lane", NS)]
    return [
        f"the label of {owner} crosses a lane border"
        for owner, (x, y, w, h) in _labels(tree)
        if not any(ly <= y and y + h <= ly + lh and lx <= x and x + w <= lx + lw for lx, ly, lw, lh in lanes)
    ]


def automatic_steps_in_peoples_lanes(tree) -> list[str]:
    lane_of = {
        ref.text: lane.get("name")
        for lane in tree.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    steps = [n for tag in AUTOMATIC_STEPS for n in tree.iterfind(f".//bpmn:process//bpmn:{tag}", NS)]
    problems = []
    for step in steps:
        # A step inside an (event) subprocess is drawn in the lane of that subprocess.
        lanes = {lane_of.get(i) for i in {step.get("id"), *_ancestors(tree, step.get("id"))}} - {None}
        if lanes != {AUTOMATIC_LANE}:
            problems.append(f"{step.get('id')} is drawn in a people's lane")
    return problems


LAYOUT_RULES = [
    flows_through_elements,
    flows_along_each_other,
    labels_on_lines,
    labels_across_lanes,
    automatic_steps_in_peoples_lanes,
]


@pytest.mark.parametrize("rule", LAYOUT_RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_readable_diagrams_keep_every_layout_rule(path, rule):
    """Issue 13: no flow through an element or along another, no label on a line or across a lane
    border, and the steps nobody works drawn in the `automatic` lane."""
    assert rule(etree.parse(str(path))) == []


def _edit(path: Path, old: str, new: str):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    return etree.fromstring(text.replace(old, new, 1).encode()).getroottree()


COMPLAINT = ROOT / "processes" / "complaint.bpmn"


@pytest.mark.parametrize(
    ("rule", "old", "new", "expected"),
    [
        (  # the flow to the classification drawn on through it into the next step
            flows_through_elements,
            '<di:waypoint x="248" y="470" /><di:waypoint x="300" y="470" />',
            '<di:waypoint x="248" y="470" /><di:waypoint x="500" y="470" />',
            "flow_complaint_received_to_classify_urgency runs through apply_urgency",
        ),
        (
            flows_through_elements,
            '<di:waypoint x="248" y="470" /><di:waypoint x="300" y="470" />',
            '<di:waypoint x="248" y="470" /><di:waypoint x="300" y="480" />',
            "flow_complaint_received_to_classify_urgency has a slanted segment",
        ),
        (  # the return from a failed attempt drawn over the flow into the registration
            flows_along_each_other,
            '<di:waypoint x="1190" y="470" /><di:waypoint x="1190" y="260" />',
            '<di:waypoint x="1090" y="470" /><di:waypoint x="1090" y="220" />',
            "flow_open_acknowledgement_to_register_complaint runs along flow_record_failed_attempt_to_register_complaint",
        ),
        (
            labels_on_lines,
            '<dc:Bounds x="1795" y="226" width="60" height="27" />',
            '<dc:Bounds x="1795" y="210" width="60" height="27" />',
            "the label of flow_customer_satisfied_to_close_case sits on flow_customer_satisfied_to_close_case",
        ),
        (
            labels_across_lanes,
            '<dc:Bounds x="1316" y="300" width="70" height="27" />',
            '<dc:Bounds x="1316" y="370" width="70" height="27" />',
            "the label of flow_customer_reached_to_record_failed_attempt crosses a lane border",
        ),
        (
            automatic_steps_in_peoples_lanes,
            "<bpmn:flowNodeRef>classify_urgency</bpmn:flowNodeRef>",
            "",
            "classify_urgency is drawn in a people's lane",
        ),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_each_layout_rule_catches_a_diagram_that_breaks_it(rule, old, new, expected):
    assert rule(etree.parse(str(COMPLAINT))) == []
    assert expected in rule(_edit(COMPLAINT, old, new))
