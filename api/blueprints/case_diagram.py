"""`GET /api/v1/cases/{id}/diagram`: the case drawn on the diagrams of the processes it ran."""

from __future__ import annotations

from marshmallow import fields

from ..auth import current_actor
from ..dumping import Schema
from . import Blueprint, engine

blp = Blueprint(
    "case_diagram", __name__, url_prefix="/api/v1/cases", description="Cases: the path on the diagram"
)


class ProcessDiagramSchema(Schema):
    process = fields.String(required=True, metadata={"description": "BPMN process id (= process key)"})
    version = fields.Integer(
        required=True, allow_none=True, metadata={"description": "the deployed version of that process"}
    )
    bpmn = fields.String(required=True, allow_none=True, metadata={"description": "the BPMN XML as deployed"})
    completed = fields.List(
        fields.String(), required=True, metadata={"description": "element ids the case passed (any round)"}
    )
    active = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "element ids waiting now: ready user tasks, waiting events, running calls"},
    )


class CaseDiagramSchema(Schema):
    case_id = fields.String(required=True)
    diagrams = fields.List(fields.Nested(ProcessDiagramSchema), required=True)


@blp.route("/<string:case_id>/diagram")
@blp.response(200, CaseDiagramSchema)
def case_diagram(case_id):
    """The case's own process version, then each process it called, with path and current tasks."""
    return engine().case_diagrams.diagram(current_actor(), case_id)
