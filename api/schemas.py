"""Marshmallow schemas of every request and response; `/openapi.json` is generated from them."""

from __future__ import annotations

from marshmallow import INCLUDE, RAISE, fields, validate

from engine.services.cases import CASE_STATUSES
from engine.services.context import MAX_PER_PAGE
from engine.signoff import DECISIONS, MAX_AMOUNT

from .dumping import Schema


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped (marshmallow's default, made explicit)."""

    class Meta:
        unknown = RAISE


class StrictFloat(fields.Float):
    """A JSON number, never a string that looks like one ("1200") and never a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# ---- shared
MAX_PAGE = 1_000_000


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class PageSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class ProblemSchema(Schema):
    type = fields.String(required=True, metadata={"example": "/problems/validation-failed"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    problems = fields.List(fields.Dict())


# ---- processes
class VersionSchema(Schema):
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(required=True)


class ProcessSummarySchema(VersionSchema):
    key = fields.String(required=True)
    name = fields.String(allow_none=True)


class ProcessPageSchema(PageSchema):
    items = fields.List(fields.Nested(ProcessSummarySchema), required=True)


class ProcessSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(allow_none=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True)


class DeployedSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True)


class DeploymentResultSchema(Schema):
    deployed = fields.List(fields.Nested(DeployedSchema), required=True)


class DeploymentUploadSchema(Schema):
    class Meta:
        unknown = INCLUDE  # files may come under any field name

    files = fields.List(
        fields.Raw(metadata={"type": "string", "format": "binary"}),
        metadata={"description": "*.bpmn, *.dmn and *.json (form) files; any field name"},
    )


class DecisionInputSchema(StrictSchema):
    inputs = fields.Dict(keys=fields.String(), required=True)


class MatchedRuleSchema(Schema):
    row = fields.Integer(required=True)
    id = fields.String(required=True)
    description = fields.String(allow_none=True)


class DecisionResultSchema(Schema):
    decision_id = fields.String(required=True)
    hit_policy = fields.String(required=True)
    outputs = fields.List(fields.Dict(), required=True)
    matched_rules = fields.List(fields.Nested(MatchedRuleSchema), required=True)
    result = fields.Dict(required=True)


# ---- tasks
class TaskSummarySchema(Schema):
    id = fields.String(required=True)
    case_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    element_id = fields.String(required=True)
    lane = fields.String(allow_none=True)
    candidate_group = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    is_approval = fields.Boolean(required=True)


class FormSchema(Schema):
    schema = fields.Dict(required=True)
    ui_schema = fields.Dict(required=True)


class TaskSchema(TaskSummarySchema):
    form = fields.Nested(FormSchema, required=True)
    data = fields.Dict(required=True)


class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSummarySchema), required=True)


class TaskListArgs(PageArgs):
    mine = fields.Boolean(load_default=False)
    group = fields.String()
    case_id = fields.String()
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "completed", "cancelled"]))


class TaskCompleteSchema(StrictSchema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


# ---- cases
class TimerSchema(Schema):
    name = fields.String(allow_none=True)
    due_at = fields.DateTime(required=True)


class EscalationSchema(Schema):
    clock = fields.String(required=True)
    name = fields.String(allow_none=True)
    at = fields.DateTime(required=True)


class CurrentStepSchema(Schema):
    task_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    element_id = fields.String(required=True)
    assignee = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)


class CaseSummarySchema(Schema):
    id = fields.String(required=True)
    business_key = fields.String(required=True)
    process = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    priority = fields.String(required=True)
    customer_id = fields.String(allow_none=True)
    issue_code = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    customer_name = fields.String(
        allow_none=True, metadata={"description": "masked (张*) for those who do not work the case"}
    )
    current_step = fields.Nested(
        CurrentStepSchema,
        allow_none=True,
        metadata={"description": "the open task due first (else the oldest); null when none is open"},
    )


class CaseSchema(CaseSummarySchema):
    data = fields.Dict(required=True)
    tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)
    timers = fields.List(fields.Nested(TimerSchema), required=True)
    escalations = fields.List(fields.Nested(EscalationSchema), required=True)
    error = fields.Dict(allow_none=True)
    links = fields.List(fields.Dict())


class CasePageSchema(PageSchema):
    items = fields.List(fields.Nested(CaseSummarySchema), required=True)


class CaseListArgs(PageArgs):
    process = fields.String()
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    business_key = fields.String()
    customer_id = fields.String()
    priority = fields.String(validate=validate.OneOf(["urgent", "ordinary"]))
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "words searched in business key, customer id, name, phone, product serial and "
            "problem description; every word must match"
        },
    )


class CaseStartSchema(StrictSchema):
    process = fields.String(required=True, validate=validate.Length(min=1, max=200))
    business_key = fields.String(validate=validate.Length(min=1, max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class EventSchema(Schema):
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    type = fields.String(required=True)
    task_id = fields.String(allow_none=True)
    detail = fields.Dict(required=True)


class EventPageSchema(PageSchema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class MessageSchema(StrictSchema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class CancelSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


# ---- approvals
class ApprovalArgs(PageArgs):
    status = fields.String(load_default="pending", validate=validate.OneOf(["pending", "decided"]))


class ApprovalTaskSchema(TaskSummarySchema):
    application = fields.Dict(required=True)


class ApprovalPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApprovalTaskSchema), required=True)


class DecisionSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = fields.String(validate=validate.Length(max=4000))
    approved_amount = StrictFloat(allow_none=True, validate=validate.Range(min=0, max=MAX_AMOUNT))


class ApprovalRecordSchema(Schema):
    task_id = fields.String(required=True)
    approver = fields.String(required=True)
    decision = fields.String(required=True)
    comment = fields.String(allow_none=True)
    approved_amount = fields.Float(allow_none=True)
    at = fields.DateTime(required=True)
    level = fields.String(allow_none=True)
    remedy = fields.String(allow_none=True)  # the remedy this decision is about (one per sign-off)


class ApprovalRecordPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApprovalRecordSchema), required=True)


# ---- operations
class HealthSchema(Schema):
    status = fields.String(required=True)
    database = fields.String(required=True)


# ---- contacts with the customer (the customer calls at any stage)
class ContactSchema(StrictSchema):
    direction = fields.String(load_default="inbound", validate=validate.OneOf(["inbound", "outbound"]))
    channel = fields.String(
        load_default="phone", validate=validate.OneOf(["phone", "online", "on_site", "letter", "sms"])
    )
    note = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    reached = fields.Boolean(load_default=True)
    reason = fields.String(
        validate=validate.OneOf(
            ["ask_progress", "add_information", "complain_again", "missed_call", "other"]
        ),
    )
