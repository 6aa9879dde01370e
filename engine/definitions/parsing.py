"""Parse a bundle of BPMN/DMN/form files with SpiffWorkflow, collecting every problem.

Two modeler dialects are understood, each with SpiffWorkflow's matching parser:
- `spiff`: spiff-arena's modeler (spiffworkflow extensions) and plain bpmn.io files;
- `camunda`: Camunda Modeler 7 (`camunda:` attributes: candidateGroups, formKey, decisionRef).
A BPMN file is Camunda's when it declares the Camunda namespace; otherwise it is spiff.

A Camunda form key names a form file of the deployment, either as it is
(`assess-damage.schema.json`) or in Camunda 7's `FORM-TYPE:deployment:NAME` shape
(`embedded:deployment:forms/assess-damage.schema.json`, `camunda-forms:deployment:...`): the
file is the NAME's last part, as deployed files are known by their base names. Keys whose form
lives elsewhere (`embedded:app:...`, an external URL) are kept as written, so the deployment is
refused with "form file ... is not in the deployment".
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaStartEventParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser as CamundaUserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask as CamundaUserTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from ..forms import referenced_files
from .bundle import Problem, fingerprint, kind_of
from .metadata import is_user_task, properties_of, task_meta

XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NSMAP = {"bpmn": BPMN_NS, "camunda": CAMUNDA_MODEL_NS}
# XML schemas are shared by concurrent deployments; each keeps the errors of its last validation.
_SCHEMA_LOCK = threading.Lock()
CAMUNDA_DEPLOYMENT_FORM_KEY = re.compile(r"^\s*(?:embedded|camunda-forms):deployment:(?P<name>.+?)\s*$")


def camunda_form_file(form_key: str) -> str:
    """The deployed form file a `camunda:formKey` names (see the module's docstring)."""
    match = CAMUNDA_DEPLOYMENT_FORM_KEY.match(form_key)
    if match is None:
        return form_key.strip()
    name = match.group("name").replace("\\", "/").rsplit("/", 1)[-1]
    return name or form_key.strip()


class CamundaUserTaskParserWithGroups(CamundaUserTaskParser):
    """Keeps `camunda:candidateGroups` and `camunda:formKey` (as the form file it names), which
    SpiffWorkflow drops."""

    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        groups = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}candidateGroups")
        if groups:
            extensions["candidateGroups"] = groups
        form_key = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}formKey")
        if form_key:
            extensions["formKey"] = camunda_form_file(form_key)
        return extensions


class CamundaStartEventParserWithForm(CamundaStartEventParser):
    """Keeps a start event's `camunda:formKey` (as the form file it names): the start form."""

    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        form_key = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}formKey")
        if form_key:
            extensions["formKey"] = camunda_form_file(form_key)
        return extensions


class CamundaDialectParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (CamundaUserTaskParserWithGroups, CamundaUserTask),
        full_tag("startEvent"): (CamundaStartEventParserWithForm, StartEvent),
    }


def make_parser(dialect: str):
    if dialect == "camunda":
        return CamundaDialectParser(validator=BpmnValidator())
    return SpiffBpmnParser(validator=SPIFF_VALIDATOR)


def detect_dialect(root) -> str:
    return "camunda" if CAMUNDA_MODEL_NS in root.nsmap.values() else "spiff"


@dataclass
class ParsedProcess:
    """One executable process of a bundle, ready to be deployed as a version."""

    key: str
    name: str | None
    bpmn_file: str
    dialect: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    files: dict[str, str]

    @property
    def sha256(self) -> str:
        return fingerprint(self.files)


@dataclass
class ParsedBundle:
    processes: list[ParsedProcess] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    trees: dict[str, etree._Element] = field(default_factory=dict)
    forms: dict[str, object] = field(default_factory=dict)
    # Which parser (dialect) holds each DMN decision id, and its file.
    decision_files: dict[str, str] = field(default_factory=dict)
    # Files that could not be read or parsed (their problems are reported): what other files
    # would miss from them is not reported again.
    unreadable: set[str] = field(default_factory=set)
    # The text of each form file, to locate problems in it by line.
    form_texts: dict[str, str] = field(default_factory=dict)


def _problem(error: ValidationException, default_file: str | None) -> Problem:
    message = str(error.args[0]) if error.args else str(error)
    notes = getattr(error, "__notes__", None)
    if notes:
        message += " (" + "; ".join(notes) + ")"
    line = error.line_number if isinstance(error.line_number, int) else None
    return Problem(error.file_name or default_file, message, error.id or None, line)


def parse_bundle(files: dict[str, str]) -> ParsedBundle:
    """Parse every file; the result holds the processes and every problem found."""
    bundle = ParsedBundle()
    for name, text in files.items():
        kind = kind_of(name)
        if kind in ("bpmn", "dmn"):
            try:
                bundle.trees[name] = etree.fromstring(text.encode("utf-8"), XML_PARSER)
            except etree.XMLSyntaxError as error:
                bundle.problems.append(Problem(name, f"XML syntax error: {error.msg}", None, error.lineno))
                bundle.unreadable.add(name)
        elif kind == "form":
            try:
                bundle.forms[name] = json.loads(text)
                bundle.form_texts[name] = text
            except json.JSONDecodeError as error:
                bundle.problems.append(Problem(name, f"not valid JSON: {error.msg}", None, error.lineno))
                bundle.unreadable.add(name)
            except RecursionError:
                bundle.problems.append(Problem(name, "not valid JSON: nested too deeply"))
                bundle.unreadable.add(name)
        else:
            bundle.problems.append(Problem(name, "only .bpmn, .dmn and .json files can be deployed"))

    dmn_files = [n for n in bundle.trees if kind_of(n) == "dmn"]
    bpmn_by_dialect: dict[str, list[str]] = {}
    for name in bundle.trees:
        if kind_of(name) == "bpmn":
            bpmn_by_dialect.setdefault(detect_dialect(bundle.trees[name]), []).append(name)

    checked_dmn = False
    for dialect, bpmn_files in sorted(bpmn_by_dialect.items()):
        parser = make_parser(dialect)
        _add_dmn(parser, dmn_files, bundle, report=not checked_dmn)
        checked_dmn = True
        for name in bpmn_files:
            _add_bpmn(parser, name, bundle)
        _collect_processes(parser, dialect, files, bundle)
    if not checked_dmn and dmn_files:
        _add_dmn(make_parser("spiff"), dmn_files, bundle, report=True)
    bundle.problems = _located(bundle, bundle.problems)
    return bundle


def _add_bpmn(parser, name: str, bundle: ParsedBundle) -> None:
    """Add one BPMN file, reporting every schema error (not just the first) with its line.

    The file is added to the parser even when the schema finds errors, so the processes it
    defines still exist for the files that call them and their own problems are found too
    (otherwise every caller reported a misleading "process not found" without a line).
    """
    tree = bundle.trees[name]
    validator = parser.validator
    schema_errors = 0
    if validator is not None:
        validator.preprocess(tree)
        with _SCHEMA_LOCK:  # the schema (and its error log) is shared by every deployment
            entries = [] if validator.validator.validate(tree) else list(validator.validator.error_log)
        for entry in entries:
            schema_errors += 1
            bundle.problems.append(Problem(name, entry.message, _id_at_line(tree, entry.line), entry.line))
    parser.validator = None
    try:
        parser.add_bpmn_xml(tree, filename=name)
    except ValidationException as error:
        bundle.problems.append(_problem(error, name))
    except Exception as error:  # a schema-invalid file may break SpiffWorkflow's own parsing
        if not schema_errors:
            bundle.problems.append(Problem(name, f"cannot be parsed: {type(error).__name__}: {error}"))
    finally:
        parser.validator = validator


def _id_at_line(tree, line: int | None) -> str | None:
    """The id of the element starting at `line`, or of the nearest element around it with one."""
    if not line:
        return None
    for node in tree.iter():
        if node.sourceline == line:
            while node is not None and node.get("id") is None:
                node = node.getparent()
            return node.get("id") if node is not None else None
    return None


def _located(bundle: ParsedBundle, problems: list[Problem]) -> list[Problem]:
    """Each problem once, with the line of its element filled in where the parser left it out."""
    seen: set[Problem] = set()
    result = []
    for problem in problems:
        if problem.line is None and problem.element_id and problem.file in bundle.trees:
            nodes = bundle.trees[problem.file].xpath("//*[@id=$id]", id=problem.element_id)
            if nodes:
                problem = Problem(problem.file, problem.message, problem.element_id, nodes[0].sourceline)
        if problem not in seen:
            seen.add(problem)
            result.append(problem)
    return result


@functools.cache
def _xml_schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


def _dmn_schema_errors(parser, tree) -> list[tuple[str, int | None]]:
    """Every error the DMN schema of the file's DMN version finds (SpiffWorkflow stops at one)."""
    namespaces = {**parser.namespaces, **tree.nsmap}
    if None in namespaces:
        namespaces["dmn"] = namespaces.pop(None)
    path = parser.dmn_schemas.get(namespaces.get("dmn"))
    if parser.validator is None or path is None:
        return []
    schema = _xml_schema(path)
    with _SCHEMA_LOCK:
        if schema.validate(tree):
            return []
        return [(entry.message, entry.line) for entry in schema.error_log]


def _add_dmn(parser, dmn_files: list[str], bundle: ParsedBundle, report: bool) -> None:
    for name in dmn_files:
        tree = bundle.trees[name]
        errors = _dmn_schema_errors(parser, tree)
        if errors:
            bundle.unreadable.add(name)
            if report:
                bundle.problems += [Problem(name, m, _id_at_line(tree, line), line) for m, line in errors]
            continue
        validator, parser.validator = parser.validator, None
        try:
            parser.add_dmn_xml(tree, filename=name)
        except ValidationException as error:
            bundle.unreadable.add(name)
            if report:
                bundle.problems.append(_problem(error, name))
            continue
        except (KeyError, IndexError):
            bundle.unreadable.add(name)
            if report:
                bundle.problems.append(Problem(name, "not a DMN file: no decision found"))
            continue
        finally:
            parser.validator = validator
    for decision_id, dmn_parser in list(parser.dmn_parsers.items()):
        try:
            dmn_parser.parse()
        except ValidationException as error:
            bundle.unreadable.add(dmn_parser.filename)
            if report:
                bundle.problems.append(_problem(error, dmn_parser.filename))
            parser.dmn_parsers.pop(decision_id)
            continue
        except (KeyError, IndexError) as error:
            bundle.unreadable.add(dmn_parser.filename)
            if report:
                bundle.problems.append(
                    Problem(
                        dmn_parser.filename,
                        f"DMN table is incomplete: missing {error}",
                        decision_id,
                    )
                )
            parser.dmn_parsers.pop(decision_id)
            continue
        previous = bundle.decision_files.get(decision_id)
        if previous and previous != dmn_parser.filename and report:
            bundle.problems.append(
                Problem(
                    dmn_parser.filename,
                    f"decision id '{decision_id}' is also defined in {previous}",
                    decision_id,
                )
            )
        bundle.decision_files[decision_id] = dmn_parser.filename


def _reference_problems(parser, process_parser, unreadable: set[str]) -> list[Problem]:
    """Call activities and business rule tasks naming a process or decision that does not exist.

    SpiffWorkflow stops at the first of these per process, and names neither the element nor
    the line for a missing process; checked here, every one is reported where it is.
    """
    problems: list[Problem] = []
    file = process_parser.filename
    if any(kind_of(name) == "bpmn" for name in unreadable):
        return problems  # the process may be in the file that could not be read
    for node in process_parser.node.xpath(".//bpmn:callActivity", namespaces=NSMAP):
        called = (node.get("calledElement") or "").strip()
        if called and parser.get_process_parser(called) is None:
            problems.append(
                Problem(
                    file,
                    f"calls process '{called}', which no deployed or uploaded BPMN file defines",
                    node.get("id"),
                    node.sourceline,
                )
            )
    for node in process_parser.node.xpath(".//bpmn:businessRuleTask", namespaces=NSMAP):
        decision_ref = decision_ref_of(node)
        dmn_unreadable = any(kind_of(name) == "dmn" for name in unreadable)
        if decision_ref and decision_ref not in parser.dmn_parsers and not dmn_unreadable:
            problems.append(
                Problem(
                    file,
                    f'No DMN Diagram available with id "{decision_ref}"',
                    node.get("id"),
                    node.sourceline,
                )
            )
    return problems


def _collect_processes(parser, dialect: str, files: dict[str, str], bundle: ParsedBundle) -> None:
    missing = []
    for process_id in list(parser.process_parsers):
        missing += _reference_problems(parser, parser.get_process_parser(process_id), bundle.unreadable)
    bundle.problems += missing
    for process_id in parser.get_process_ids():
        process_parser = parser.get_process_parser(process_id)
        try:
            spec = parser.get_spec(process_id)
            # A missing called process is reported above; its callers are still checked whole.
            subprocess_specs = parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
            subprocess_specs = {k: v for k, v in subprocess_specs.items() if v is not None}
        except ValidationException as error:
            # (SpiffWorkflow's own report of a missing process or decision, said better above)
            said = str(error).startswith(("No DMN Diagram available", "The process '"))
            if not ((missing or bundle.unreadable) and said):
                bundle.problems.append(_problem(error, process_parser.filename))
            continue
        except Exception as error:  # SpiffWorkflow failing on a file the schema already refused
            if not any(p.file == process_parser.filename for p in bundle.problems):
                bundle.problems.append(
                    Problem(process_parser.filename, f"cannot be parsed: {type(error).__name__}: {error}")
                )
            continue
        dependencies = _dependencies(parser, process_id, spec, subprocess_specs, bundle)
        bundle.processes.append(
            ParsedProcess(
                key=process_id,
                name=process_parser.node.get("name"),
                bpmn_file=process_parser.filename,
                dialect=dialect,
                spec=spec,
                subprocess_specs=subprocess_specs,
                files={name: files[name] for name in sorted(dependencies) if name in files},
            )
        )


def _dependencies(parser, process_id, spec, subprocess_specs, bundle: ParsedBundle) -> set[str]:
    """The files a process version is made of: its BPMN, called BPMN, DMN tables, forms."""
    names: set[str] = set()
    for pid in [process_id, *subprocess_specs]:
        process_parser = parser.get_process_parser(pid)
        if process_parser is None:
            continue
        names.add(process_parser.filename)
        for node in process_parser.node.xpath(".//bpmn:businessRuleTask", namespaces=NSMAP):
            decision_ref = decision_ref_of(node)
            if decision_ref in bundle.decision_files:
                names.add(bundle.decision_files[decision_ref])
    forms: set[str] = set()
    for each in [spec, *subprocess_specs.values()]:
        for task_spec in each.task_specs.values():
            forms.update(name for name, _role in form_refs_of(task_spec))
    # ... and the form files those forms `$ref`, however deep.
    pending = list(forms)
    while pending:
        schema = bundle.forms.get(pending.pop())
        for name in referenced_files(schema) - forms:
            if name in bundle.forms:
                forms.add(name)
                pending.append(name)
    return names | forms


def decision_ref_of(node) -> str | None:
    """The decision a businessRuleTask calls, in either dialect."""
    camunda_ref = node.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef")
    if camunda_ref:
        return camunda_ref
    refs = node.xpath(
        "./bpmn:extensionElements/spiffworkflow:calledDecisionId",
        namespaces={
            "bpmn": BPMN_NS,
            "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
        },
    )
    return refs[0].text.strip() if refs and refs[0].text else None


def form_refs_of(task_spec) -> list[tuple[str, str]]:
    """(file, "schema" | "ui") for the forms a task spec names: a user task's, or a start form."""
    if is_user_task(task_spec):
        meta = task_meta(task_spec)
        schema, ui = meta.form_file, meta.ui_form_file
    else:
        properties = properties_of(task_spec)
        schema = properties.get("formJsonSchemaFilename") or properties.get("formKey")
        ui = properties.get("formUiSchemaFilename")
    return [(f, role) for f, role in ((schema, "schema"), (ui, "ui")) if f]
