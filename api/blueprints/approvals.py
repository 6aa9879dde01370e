"""Sign-offs: the approver's inbox and decisions."""

from __future__ import annotations

from ..auth import current_actor
from ..schemas import ApprovalArgs, ApprovalPageSchema, CaseSchema, DecisionSchema
from . import Blueprint, engine, page_of

blp = Blueprint("approvals", __name__, url_prefix="/api/v1/approvals", description="Approvals")


@blp.route("")
@blp.arguments(ApprovalArgs, location="query")
@blp.response(200, ApprovalPageSchema)
def list_approvals(args):
    """Approval tasks the caller may decide (pending) or has decided, with the application summary."""
    page = page_of(args)
    return engine().approvals.pending(current_actor(), page, args.get("status", "pending"))


@blp.route("/<string:task_id>", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, CaseSchema)
def decide(body, task_id):
    """Approve or reject (a rejection needs a comment; the applicant may not decide)."""
    return engine().approvals.decide(
        current_actor(), task_id, body["decision"], body.get("comment"), body.get("approved_amount")
    )
