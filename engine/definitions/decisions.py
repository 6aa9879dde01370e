"""Decision tables on their own: load them from DMN files and evaluate one on given inputs.

Used by `POST /decisions/{id}/evaluate` (try a table without starting a case) and by the tests
that check every row of the shipped tables.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..sandbox import SandboxScriptEngine, act_budget
from .parsing import make_parser


class DecisionError(Exception):
    """The table could not be evaluated with these inputs (a cell failed, an input is missing)."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def load_decisions(dmn_files: dict[str, str]) -> dict[str, DMNEngine]:
    """Decision id → SpiffWorkflow's DMN engine, for every decision in the files."""
    parser = make_parser("spiff")
    for name, text in dmn_files.items():
        parser.add_dmn_str(text.encode("utf-8"), filename=name)
    return {decision_id: parser.get_engine(decision_id, None) for decision_id in parser.dmn_parsers}


# A column's typeRef → the Python types its value may have (null is always allowed).
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "double": (int, float),
    "decimal": (int, float),
    "integer": (int,),
    "int": (int,),
    "long": (int,),
}


def _type_matches(type_ref: str, value: Any) -> bool:
    allowed = _TYPES.get((type_ref or "").lower())
    if allowed is None or value is None:
        return True
    if isinstance(value, bool) and bool not in allowed:
        return False
    return isinstance(value, allowed)


def input_problems(
    engine: DMNEngine, inputs: dict[str, Any], script_engine: SandboxScriptEngine
) -> list[str]:
    """What is missing or of the wrong type among the inputs, each named, before any rule runs.

    Every input column's expression is evaluated once on the inputs: a name it needs that is
    not there, or a value of another type than the column's `typeRef`, is reported by name.
    """
    problems: list[str] = []
    missing: dict[str, list[str]] = {}  # name → the columns that need it
    for column in engine.decision_table.inputs:
        expression = (column.expression or "").strip()
        if not expression:
            continue
        label = column.label or column.name or column.id
        try:
            value = script_engine.environment.evaluate(expression, dict(inputs))
        except NameError as error:
            missing.setdefault(getattr(error, "name", None) or str(error), []).append(
                f"'{label}': {expression}"
            )
            continue
        except KeyError as error:
            problems.append(f"input {expression} is missing {error} (column '{label}')")
            continue
        except Exception as error:
            problems.append(
                f"input {expression} cannot be read from these inputs (column '{label}'): "
                f"{type(error).__name__}: {error}"
            )
            continue
        if not _type_matches(column.typeRef, value):
            problems.append(
                f"input {expression} should be a {column.typeRef}, not {type(value).__name__} {value!r} "
                f"(column '{label}')"
            )
    named = [
        f"input '{name}' is missing (column {'; column '.join(columns)})" for name, columns in missing.items()
    ]
    return named + problems


def _merged(hit_policy: str, outputs: list[dict]) -> dict:
    """What a business rule task merges into the data: the first hit's outputs, or for COLLECT
    each output name with the list of its values, in row order."""
    if hit_policy != "COLLECT":
        return dict(outputs[0]) if outputs else {}
    merged: dict[str, list] = {}
    for output in outputs:
        for name, value in output.items():
            merged.setdefault(name, []).append(value)
    return merged


def evaluate(engine: DMNEngine, inputs: dict[str, Any], script_engine: SandboxScriptEngine) -> dict:
    """Which rows hit, their outputs, and what a business rule task would merge into the data.

    The inputs are checked first (`input_problems`); then each rule is evaluated once, and each
    hit's outputs once (the merged result is built from those, not by deciding again).
    """
    table = engine.decision_table
    problems = input_problems(engine, inputs, script_engine)
    if problems:
        raise DecisionError(*problems)
    task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=script_engine))
    try:
        with act_budget():  # one time and memory budget for the whole table, as for a case's act
            matched = engine.decide(task)
            if table.hit_policy != "COLLECT":
                matched = matched[:1]
            outputs = [dict(rule.output_as_dict(task)) for rule in matched]
    except SpiffWorkflowException as error:
        raise DecisionError("; ".join([str(error), *getattr(error, "__notes__", [])])) from None
    except Exception as error:
        # SpiffWorkflow wraps a failing cell in an exception that expects a real task; without
        # one, the wrapping fails. Report the cell's own error, which is the one a person can fix.
        cause = error.__context__ or error
        raise DecisionError(f"{type(cause).__name__}: {cause}") from None
    return {
        "hit_policy": table.hit_policy,
        "outputs": outputs,
        "matched_rules": [
            {"row": rule.row_number, "id": rule.id, "description": rule.description or None}
            for rule in matched
        ],
        "result": _merged(table.hit_policy, outputs),
    }
