"""Cases: start, list, read, audit trail, messages, cancel."""

from __future__ import annotations

from flask import request

from engine.errors import BadRequest
from engine.services.contacts import ContactService

from ..auth import current_actor
from ..schemas import (
    ApprovalRecordPageSchema,
    CancelSchema,
    CaseListArgs,
    CasePageSchema,
    CaseSchema,
    CaseStartSchema,
    ContactSchema,
    EventPageSchema,
    MessageSchema,
    PageArgs,
)
from . import Blueprint, engine, page_of

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Cases")

IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "Send the same key again to get the same case back instead of a second one.",
}


@blp.route("", methods=["POST"])
@blp.arguments(CaseStartSchema)
@blp.response(201, CaseSchema, description="The case was started")
@blp.alt_response(200, schema=CaseSchema, description="Idempotent replay: the case this key started")
@blp.doc(parameters=[IDEMPOTENCY_HEADER])
def start_case(body):
    """Start a case; `data` is validated against the process's start form."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= 200):
        raise BadRequest("Idempotency-Key must be 1 to 200 characters")
    case, created = engine().cases.start(
        current_actor(),
        body["process"],
        body.get("data") or {},
        business_key=body.get("business_key"),
        idempotency_key=key.strip() if key else None,
    )
    return case, 201 if created else 200


@blp.route("")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CasePageSchema)
def list_cases(args):
    """Case summaries, newest first, filtered by the query; `q` searches (Chinese included).

    Each summary carries the customer's name (masked unless the caller works the case), the
    current step and its due time. An integration sees only the cases it started.
    """
    page = page_of(args)
    return engine().cases.list(current_actor(), page, **args)


@blp.route("/<string:case_id>")
@blp.response(200, CaseSchema)
def get_case(case_id):
    """A case with its data, open tasks, pending timers and escalations.

    Personal fields are masked unless the caller works the case; supervisors and admins see it
    whole, and their read of a case they do not work is recorded in its audit trail.
    """
    return engine().cases.get(current_actor(), case_id)


@blp.route("/<string:case_id>/events")
@blp.arguments(PageArgs, location="query")
@blp.response(200, EventPageSchema)
def case_events(args, case_id):
    """The audit trail of a case, oldest first."""
    return engine().cases.events(current_actor(), case_id, page_of(args))


@blp.route("/<string:case_id>/approvals")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ApprovalRecordPageSchema)
def case_approvals(args, case_id):
    """Every sign-off decision on a case, oldest first."""
    engine().cases.readable(current_actor(), case_id)
    return engine().approvals.of_case(case_id, page_of(args))


@blp.route("/<string:case_id>/messages/<string:name>", methods=["POST"])
@blp.arguments(MessageSchema)
@blp.response(200, CaseSchema)
def deliver_message(body, case_id, name):
    """Deliver a BPMN message to the case (409 when it is not waiting for it)."""
    return engine().cases.deliver_message(current_actor(), case_id, name, body.get("data") or {})


@blp.route("/<string:case_id>/cancel", methods=["POST"])
@blp.arguments(CancelSchema)
@blp.response(200, CaseSchema)
def cancel_case(body, case_id):
    """Cancel a running case (group supervisors)."""
    return engine().cases.cancel(current_actor(), case_id, body["reason"])


@blp.route("/<string:case_id>/contacts", methods=["POST"])
@blp.arguments(ContactSchema)
@blp.response(201, CaseSchema)
def record_contact(body, case_id):
    """Record a contact with the customer; an inbound one gives the owner a call-back task (409 unless running)."""
    return ContactService(engine().ctx).record(current_actor(), case_id, body)
