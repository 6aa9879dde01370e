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


def load_decisions(dmn_files: dict[str, str]) -> dict[str, DMNEngine]:
    """Decision id → SpiffWorkflow's DMN engine, for every decision in the files."""
    parser = make_parser("spiff")
    for name, text in dmn_files.items():
        parser.add_dmn_str(text.encode("utf-8"), filename=name)
    return {decision_id: parser.get_engine(decision_id, None) for decision_id in parser.dmn_parsers}


def evaluate(engine: DMNEngine, inputs: dict[str, Any], script_engine: SandboxScriptEngine) -> dict:
    """Which rows hit, their outputs, and what a business rule task would merge into the data."""
    table = engine.decision_table
    task = SimpleNamespace(data=dict(inputs), workflow=SimpleNamespace(script_engine=script_engine))
    try:
        with act_budget():  # one time and memory budget for the whole table, as for a case's act
            matched = engine.decide(task)
            if table.hit_policy != "COLLECT":
                matched = matched[:1]
            outputs = [dict(rule.output_as_dict(task)) for rule in matched]
            result = engine.result(task)
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
        "result": dict(result),
    }
