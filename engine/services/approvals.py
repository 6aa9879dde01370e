"""Sign-offs on major-quality-incident applications.

An approval task is a user task with the `approvalLevel` property. Deciding one (here, or by
completing it as a task) follows the same rules:
- the decision is `approve` or `reject`; a rejection needs a comment;
- the applicant (the task data field named by `applicantField`) may never decide it;
- every decision is stored with approver, time, level, comment and approved amount.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Forbidden, NotFound, ValidationFailed
from ..identity import Actor
from ..projection import add_event
from ..store.models import Approval, Case, HumanTask
from .common import EngineContext, PageRequest, paged, task_view

DECISIONS = ("approve", "reject")


# Amounts are stored as NUMERIC(14, 2).
MAX_AMOUNT = 1_000_000_000


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if abs(value) <= MAX_AMOUNT else None


def check_and_record_decision(
    ctx: EngineContext,
    session: Session,
    actor: Actor,
    case: Case,
    row: HumanTask,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Enforce the sign-off rules, store the decision; returns the data to complete the task with."""
    decision = data.get("decision")
    comment = (data.get("comment") or "").strip() if isinstance(data.get("comment"), str) else ""
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = ["must be approve or reject"]
    if decision == "reject" and not comment:
        errors["comment"] = ["a rejection needs a comment saying why"]
    approved_amount = data.get("approved_amount")
    if approved_amount is not None and (_number(approved_amount) is None or approved_amount < 0):
        errors["approved_amount"] = [f"must be a number from 0 to {MAX_AMOUNT}"]
    if errors:
        raise ValidationFailed("the decision is incomplete", errors)
    if row.applicant and row.applicant == actor.username:
        raise Forbidden("the applicant may not decide their own application")

    case_data = case.data or {}
    requested = _number(case_data.get("loss_amount"))
    if decision == "approve" and approved_amount is None:
        approved_amount = requested
    if decision == "reject":
        approved_amount = None
    level = row.approval_level
    session.add(
        Approval(
            case_id=case.id,
            task_id=row.id,
            customer_id=case.customer_id,
            approver=actor.username,
            applicant=row.applicant,
            decision=decision,
            comment=comment or None,
            remedy=case_data.get("remedy"),
            requested_amount=requested,
            approved_amount=_number(approved_amount),
            level=level,
            at=now,
        )
    )
    add_event(
        session,
        case.id,
        now,
        actor,
        "approval_recorded",
        row.id,
        {
            "decision": decision,
            "level": level,
            "approved_amount": _number(approved_amount),
            "comment": comment,
        },
    )
    return {
        **data,
        "decision": decision,
        "comment": comment,
        "approved_amount": _number(approved_amount),
    }


def approval_view(ctx: EngineContext, approval: Approval) -> dict:
    return {
        "task_id": approval.task_id,
        "approver": approval.approver,
        "decision": approval.decision,
        "comment": approval.comment,
        "approved_amount": approval.approved_amount,
        "at": ctx.local(approval.at),
        "level": approval.level,
    }


class ApprovalService:
    def __init__(self, ctx: EngineContext, tasks):
        self.ctx = ctx
        self.tasks = tasks

    def pending(self, actor: Actor, page: PageRequest, status: str = "pending") -> dict:
        """Approval tasks the caller may decide (pending), or has decided (decided)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            session = uow.session
            if status == "decided":
                query = (
                    select(HumanTask)
                    .where(
                        HumanTask.approval_level.is_not(None),
                        HumanTask.completed_by == actor.username,
                    )
                    .order_by(HumanTask.completed_at.desc(), HumanTask.id)
                )
            else:
                query = (
                    select(HumanTask)
                    .where(
                        HumanTask.approval_level.is_not(None),
                        HumanTask.status == "open",
                        (HumanTask.assignee == actor.username)
                        | (
                            HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(sorted(actor.groups))
                        ),
                        (HumanTask.applicant.is_(None)) | (HumanTask.applicant != actor.username),
                    )
                    .order_by(
                        HumanTask.priority_rank,
                        HumanTask.due_at.is_(None),
                        HumanTask.due_at,
                        HumanTask.id,
                    )
                )
            return paged(session, query, page, lambda row: self._summary(session, row))

    def _summary(self, session: Session, row: HumanTask) -> dict:
        case = session.get(Case, row.case_id)
        data = case.data or {}
        view = task_view(self.ctx, row)
        earlier = session.execute(
            select(Approval, Case.business_key)
            .join(Case, Case.id == Approval.case_id)
            .where(
                Approval.customer_id == case.customer_id,
                Approval.case_id != case.id,
                Approval.remedy == "compensation",
            )
            .order_by(Approval.at)
        ).all()
        view["application"] = {
            "case_id": case.id,
            "business_key": case.business_key,
            "customer": data.get("customer"),
            "applicant": row.applicant,
            "remedy": data.get("remedy"),
            "loss_amount": data.get("loss_amount"),
            "amount_claimed": data.get("amount_claimed"),
            "eligible_remedies": data.get("eligible_remedies"),
            "legal_remedies": data.get("legal_remedies"),
            "investigation": data.get("investigation_findings"),
            "earlier_compensation_claims": [
                {
                    "case_id": a.case_id,
                    "business_key": business_key,
                    "decision": a.decision,
                    "requested_amount": a.requested_amount,
                    "approved_amount": a.approved_amount,
                    "at": self.ctx.local(a.at),
                }
                for a, business_key in earlier
            ],
        }
        return view

    def decide(
        self,
        actor: Actor,
        task_id: str,
        decision: str,
        comment: str | None,
        approved_amount: float | None,
    ) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = uow.session.get(HumanTask, task_id)
            if row is None or not row.is_approval:
                raise NotFound(f"no approval task {task_id}")
        data: dict[str, Any] = {"decision": decision}
        if comment is not None:
            data["comment"] = comment
        if approved_amount is not None:
            data["approved_amount"] = approved_amount
        return self.tasks.complete(actor, task_id, data)

    def of_case(self, actor: Actor, case_id: str, page: PageRequest) -> dict:
        """Every sign-off decision on a case, oldest first."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            if uow.session.get(Case, case_id) is None:
                raise NotFound(f"no case {case_id}")
            query = select(Approval).where(Approval.case_id == case_id).order_by(Approval.at, Approval.id)
            return paged(uow.session, query, page, lambda a: approval_view(self.ctx, a))
