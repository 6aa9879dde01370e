"""What changed between two versions of a process, per file, by element id.

A process owner comparing versions wants to know which tasks, flows, gateways, decision rules
and form fields were added, removed or changed, not a line diff of XML. So:
- BPMN and DMN: every element with an `id` is compared on its own content (its tag, attributes,
  text and the children that have no id of their own; children with ids are compared in their own
  right). Diagram layout (BPMN DI: shapes, edges, bounds) is left out: moving a shape changes
  nothing that runs.
- forms (JSON Schema): every field, by its dotted path (`customer.name`), is compared on its own
  keywords (nested fields in their own right); the form itself is the field `(form)`.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from .bundle import kind_of
from .parsing import XML_PARSER

LAYOUT_NAMESPACES = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/",
)


def _is_layout(node) -> bool:
    return isinstance(node.tag, str) and any(node.tag.startswith("{" + ns + "}") for ns in LAYOUT_NAMESPACES)


def _own_content(node) -> str:
    """The element without its layout and without the descendants that have ids of their own."""

    def strip(element):
        copy = etree.Element(element.tag, dict(element.attrib))
        copy.text = (element.text or "").strip() or None
        for child in element:
            if not isinstance(child.tag, str) or _is_layout(child):
                continue
            if child.get("id") is not None:
                placeholder = etree.SubElement(copy, "ref")
                placeholder.set("id", child.get("id"))
            else:
                copy.append(strip(child))
        return copy

    return etree.tostring(strip(node), encoding="unicode")


def _xml_elements(text: str) -> dict[str, dict]:
    root = etree.fromstring(text.encode("utf-8"), XML_PARSER)
    elements = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or node.get("id") is None:
            continue
        if _is_layout(node) or any(_is_layout(a) for a in node.iterancestors()):
            continue
        elements[node.get("id")] = {
            "type": etree.QName(node).localname,
            "name": node.get("name") or node.get("label"),
            "content": _own_content(node),
        }
    return elements


def _form_fields(text: str) -> dict[str, dict]:
    fields: dict[str, dict] = {}

    def walk(schema: Any, path: str) -> None:
        if not isinstance(schema, dict):
            fields[path or "(form)"] = {"type": "field", "name": None, "content": json.dumps(schema)}
            return
        own = {k: v for k, v in schema.items() if k != "properties"}
        fields[path or "(form)"] = {
            "type": "form" if not path else "field",
            "name": schema.get("title"),
            "content": json.dumps(own, sort_keys=True, ensure_ascii=False),
        }
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                walk(sub, f"{path}.{name}" if path else name)

    walk(json.loads(text), "")
    return fields


def _elements(name: str, text: str) -> dict[str, dict]:
    return _form_fields(text) if kind_of(name) == "form" else _xml_elements(text)


def _view(element_id: str, element: dict) -> dict:
    return {"id": element_id, "type": element["type"], "name": element["name"]}


def diff_versions(old: dict[str, str], new: dict[str, str]) -> list[dict]:
    """Per file that differs: its status and the elements added, removed and changed."""
    files = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        old_elements = _elements(name, before) if before is not None else {}
        new_elements = _elements(name, after) if after is not None else {}
        entry = {
            "name": name,
            "kind": kind_of(name),
            "status": status,
            "added": [_view(i, new_elements[i]) for i in new_elements if i not in old_elements],
            "removed": [_view(i, old_elements[i]) for i in old_elements if i not in new_elements],
            "changed": [
                _view(i, new_elements[i])
                for i in new_elements
                if i in old_elements and old_elements[i]["content"] != new_elements[i]["content"]
            ],
        }
        if status != "changed" or entry["added"] or entry["removed"] or entry["changed"]:
            files.append(entry)  # (a file whose only change is layout or formatting is left out)
    return files
