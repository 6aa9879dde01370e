"""First-contact ownership and recovery: a supervisor reassigns a case, or runs one in error again."""

from __future__ import annotations

from marshmallow import fields, validate

from ..auth import current_actor
from ..schemas import CaseSchema, StrictSchema
from . import Blueprint, engine

blp = Blueprint("ownership", __name__, url_prefix="/api/v1/cases", description="Case ownership")


class ReassignSchema(StrictSchema):
    to = fields.String(required=True, validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RetrySchema(StrictSchema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


@blp.route("/<string:case_id>/reassign", methods=["POST"])
@blp.arguments(ReassignSchema)
@blp.response(200, CaseSchema)
def reassign(body, case_id):
    """Give the case to another agent, with a reason (group supervisors); their tasks move too."""
    return engine().ownership.reassign(current_actor(), case_id, body["to"], body["reason"])


@blp.route("/<string:case_id>/retry", methods=["POST"])
@blp.arguments(RetrySchema)
@blp.response(200, CaseSchema)
def retry(body, case_id):
    """Run a case in `error` again once the cause was fixed (supervisors, admins); `data`
    optionally corrects what the failed step reads."""
    return engine().ownership.retry(current_actor(), case_id, body.get("data") or {})
