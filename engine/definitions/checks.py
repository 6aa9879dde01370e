"""Checks a bundle must pass beyond what SpiffWorkflow's parsers check.

- every script, gateway condition, timer expression, message payload and DMN cell compiles
  under the sandbox policy (so a broken or hostile diagram is refused at deploy time, naming
  the element and line, instead of failing in a customer's case);
- every form a task names is in the bundle and is a valid JSON Schema;
- every user task has exactly one candidate group (its lane, or `candidateGroups`).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.validators import validator_for
from lxml import etree

from ..forms import json_lines, pattern_problems, reference_problems
from ..sandbox import check_code, check_timer_expression
from .bundle import Problem, kind_of
from .metadata import is_user_task, task_meta
from .parsing import BPMN_NS, ParsedBundle, form_refs_of

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

DEFAULT_DRAFT = Draft202012Validator.META_SCHEMA["$id"]

# (xpath to the code element, mode, how many levels up the element with the id is)
BPMN_CODE: list[tuple[str, Literal["exec", "eval"], int]] = [
    ("//bpmn:scriptTask/bpmn:script", "exec", 1),
    ("//spiffworkflow:preScript", "exec", 2),
    ("//spiffworkflow:postScript", "exec", 2),
    ("//bpmn:sequenceFlow/bpmn:conditionExpression", "eval", 1),
    ("//bpmn:timerEventDefinition/bpmn:timeDuration", "eval", 2),
    ("//bpmn:timerEventDefinition/bpmn:timeDate", "eval", 2),
    ("//bpmn:timerEventDefinition/bpmn:timeCycle", "eval", 2),
    ("//bpmn:conditionalEventDefinition/bpmn:condition", "eval", 2),
    ("//bpmn:multiInstanceLoopCharacteristics/bpmn:loopCardinality", "eval", 2),
    ("//bpmn:multiInstanceLoopCharacteristics/bpmn:completionCondition", "eval", 2),
    ("//spiffworkflow:messagePayload", "eval", 2),
]


def check_bundle(bundle: ParsedBundle) -> list[Problem]:
    problems: list[Problem] = []
    for name, tree in bundle.trees.items():
        if kind_of(name) == "bpmn":
            problems += _check_bpmn_code(name, tree)
        else:
            problems += _check_dmn_code(name, tree)
    problems += _check_forms_and_groups(bundle)
    problems += _check_form_files(bundle)
    return problems


def _owner_id(node, levels: int) -> str | None:
    owner = node
    for _ in range(levels):
        parent = owner.getparent()
        if parent is None:
            break
        owner = parent
    while owner is not None and owner.get("id") is None:
        owner = owner.getparent()
    return owner.get("id") if owner is not None else None


def _code_problems(
    file: str, node, code: str, mode: Literal["exec", "eval"], element_id: str | None
) -> list[Problem]:
    # An expression is compiled stripped; count the lines stripped off its start.
    skipped = code[: len(code) - len(code.lstrip())].count("\n") if mode == "eval" else 0
    messages = check_code(code.strip() if mode == "eval" else code, mode)
    problems = []
    for message in messages:
        match = re.match(r"Line (\d+): (.*)", message, re.S)
        offset, text = (int(match.group(1)), match.group(2)) if match else (1, message)
        problems.append(Problem(file, text, element_id, (node.sourceline or 1) + skipped + offset - 1))
    return problems


def _check_bpmn_code(name: str, tree) -> list[Problem]:
    problems = []
    for xpath, mode, levels in BPMN_CODE:
        for node in tree.xpath(xpath, namespaces=NS):
            if node.text and node.text.strip():
                problems += _code_problems(name, node, node.text, mode, _owner_id(node, levels))
    problems += _check_timer_values(name, tree)
    return problems


def _check_timer_values(name: str, tree) -> list[Problem]:
    """A timer expression that can never give a valid date, duration or cycle (sandbox's rule)."""
    problems = []
    for node in tree.xpath("//bpmn:timerEventDefinition/*", namespaces=NS):
        kind = etree.QName(node).localname
        if kind in ("timeDate", "timeDuration", "timeCycle") and node.text and node.text.strip():
            for message in check_timer_expression(kind, node.text):
                problems.append(Problem(name, message, _owner_id(node, 2), node.sourceline))
    return problems


def dmn_cell_expression(input_expression: str, entry: str) -> str:
    """The expression SpiffWorkflow's DMN engine evaluates for one input cell."""
    entry = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", entry)
    if "dmninputexpr" in entry:
        return entry
    if not check_code(entry, "eval"):
        return f"({input_expression}) == ({entry})"
    return f"{input_expression} {entry}"


def _check_dmn_code(name: str, tree) -> list[Problem]:
    ns = {"dmn": tree.nsmap.get(None) or tree.nsmap.get("dmn") or ""}
    problems = []
    for table in tree.xpath("//dmn:decisionTable", namespaces=ns):
        inputs = []
        for input_node in table.xpath("./dmn:input", namespaces=ns):
            text_node = input_node.find("dmn:inputExpression/dmn:text", namespaces=ns)
            expression = (text_node.text or "").strip() if text_node is not None else ""
            inputs.append(expression)
            if not expression:
                problems.append(
                    Problem(name, "input has no expression", input_node.get("id"), input_node.sourceline)
                )
            else:
                problems += _code_problems(name, text_node, expression, "eval", input_node.get("id"))
        for rule in table.xpath("./dmn:rule", namespaces=ns):
            rule_id = rule.get("id")
            entries = rule.xpath("./dmn:inputEntry/dmn:text", namespaces=ns)
            for index, text_node in enumerate(entries):
                entry = (text_node.text or "").strip()
                if not entry or entry == "-" or index >= len(inputs) or not inputs[index]:
                    continue
                expression = dmn_cell_expression(inputs[index], entry)
                problems += _code_problems(name, text_node, expression, "eval", rule_id)
            for text_node in rule.xpath("./dmn:outputEntry/dmn:text", namespaces=ns):
                entry = (text_node.text or "").strip()
                if entry:
                    problems += _code_problems(name, text_node, entry, "eval", rule_id)
    return problems


def _line_of(bundle: ParsedBundle, file: str, element_id: str) -> int | None:
    tree = bundle.trees.get(file)
    if tree is None:
        return None
    nodes = tree.xpath("//*[@id=$id]", id=element_id)
    return nodes[0].sourceline if nodes else None


def _check_forms_and_groups(bundle: ParsedBundle) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for process in bundle.processes:
        specs = [process.spec, *process.subprocess_specs.values()]
        for spec in specs:
            spec_file = spec.file or process.bpmn_file
            for task_spec in spec.task_specs.values():
                element_id = getattr(task_spec, "bpmn_id", None)
                if not element_id or (spec_file, element_id) in seen:
                    continue
                seen.add((spec_file, element_id))
                line = _line_of(bundle, spec_file, element_id)
                for form_file, _role in form_refs_of(task_spec):
                    problems += _check_form(bundle, spec_file, element_id, line, form_file)
                if is_user_task(task_spec):
                    groups = task_meta(task_spec).candidate_groups
                    if not groups:
                        problems.append(
                            Problem(
                                spec_file,
                                "user task has no candidate group: put it in a lane named after "
                                "a group, or set candidateGroups",
                                element_id,
                                line,
                            )
                        )
                    elif len(groups) > 1:
                        problems.append(
                            Problem(
                                spec_file,
                                "only one candidate group per user task is supported",
                                element_id,
                                line,
                            )
                        )
    return problems


def _check_form(bundle, spec_file, element_id, line, form_file) -> list[Problem]:
    if form_file not in bundle.forms and form_file not in bundle.unreadable:
        return [Problem(spec_file, f"form file '{form_file}' is not in the deployment", element_id, line)]
    return []


def _check_form_files(bundle: ParsedBundle) -> list[Problem]:
    """Every JSON file that is not only a UI schema is a form schema, used by a process yet or not:
    a valid JSON Schema, `$ref`s only inside the deployment, patterns RE2 can run. Each problem
    names the place in the schema (as its element id, `properties/reply_text/type`) and its line."""
    ui_only: set[str] = set()
    for process in bundle.processes:
        for spec in [process.spec, *process.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                ui_only.update(name for name, role in form_refs_of(task_spec) if role == "ui")
    problems: list[Problem] = []
    for form_file, schema in sorted(bundle.forms.items()):
        if form_file in ui_only:
            continue
        lines = json_lines(bundle.form_texts.get(form_file, ""))

        def located(path, message: str, form_file: str = form_file, lines: dict = lines) -> Problem:
            where = "/".join(str(p) for p in path) or None
            return Problem(form_file, message, where, lines.get(tuple(path), lines.get(())))

        if not isinstance(schema, dict):
            problems.append(located((), "a form schema must be a JSON object"))
            continue
        declared = schema.get("$schema", DEFAULT_DRAFT)
        # jsonschema returns `default` as given for an unknown draft; its stubs do not allow None.
        cls = (
            validator_for({"$schema": declared}, default=None)  # type: ignore[arg-type]
            if isinstance(declared, str)
            else None
        )
        if cls is None:
            message = f"$schema {json.dumps(declared)} is not a JSON Schema draft this service knows"
            problems.append(located(("$schema",), message))
            continue
        try:
            cls.check_schema(schema)
        except SchemaError as error:
            path = "/".join(str(p) for p in error.path) or "(root)"
            problems.append(located(error.path, f"not a valid JSON Schema at {path}: {error.message}"))
            continue
        for where, message in reference_problems(schema, set(bundle.forms)) + pattern_problems(schema):
            problems.append(located(where, message))
    return problems
