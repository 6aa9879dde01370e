"""The approvers' side of sign-offs: their inbox with the application summary and its evidence, and decisions.

The rules themselves (who may claim or decide, amounts, what is recorded) are in `engine.signoff`;
a decision is taken by completing the approval task through the task service, so approving here
and completing the task at `/tasks/{id}/complete` are one code path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..identity import Actor
from ..store.models import Approval, Case, HumanTask
from ..store.queries import in_inbox_of
from .attachments import attachments_of
from .context import EngineContext, PageRequest, paged
from .tasks import TaskService
from .views import task_view


def approval_view(ctx: EngineContext, approval: Approval) -> dict:
    """One recorded decision as `GET /cases/{id}/approvals` lists it."""
    return {
        "task_id": approval.task_id,
        "approver": approval.approver,
        "decision": approval.decision,
        "comment": approval.comment,
        "approved_amount": approval.approved_amount,
        "at": ctx.local(approval.at),
        "level": approval.level,
        "remedy": approval.remedy,
    }


class ApprovalService:
    """Approvers' inbox and decisions; deciding goes through the task service's completion."""

    def __init__(self, ctx: EngineContext, tasks: TaskService):
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
                        in_inbox_of(actor.username, sorted(actor.groups)),
                        (HumanTask.applicant.is_(None)) | (HumanTask.applicant != actor.username),
                        # Not a level after one the caller approved: two levels, two people.
                        ~exists().where(
                            Approval.case_id == HumanTask.case_id,
                            Approval.at == HumanTask.created_at,
                            Approval.decision == "approve",
                            Approval.approver == actor.username,
                        ),
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
        case = session.get_one(Case, row.case_id)
        data = case.data or {}
        # One application may ask for several remedies, each signed off on its own task: the remedy and
        # its amounts are the task's own (its data as the task was created), the rest the case's.
        own = row.data if isinstance(row.data, dict) else {}
        view = task_view(self.ctx, row)
        earlier = self._earlier_claims(session, case)
        view["application"] = {
            "case_id": case.id,
            "business_key": case.business_key,
            "customer": data.get("customer"),
            "applicant": row.applicant,
            "remedy": own.get("remedy", data.get("remedy")),
            "loss_amount": own.get("loss_amount", data.get("loss_amount")),
            "remedy_eligible": own.get("remedy_eligible", data.get("remedy_eligible")),
            "requested_remedies": data.get("requested_remedies"),
            "amount_claimed": data.get("amount_claimed"),
            "eligible_remedies": data.get("eligible_remedies"),
            "legal_remedies": data.get("legal_remedies"),
            "investigation": data.get("investigation_findings"),
            "earlier_compensation_claims": earlier,
            # The evidence (photos, invoices, test reports) the approver decides on, oldest first;
            # times as ISO 8601 text, as the attachment endpoints give them (the summary is free-form).
            "attachments": [
                {**item, "at": item["at"].isoformat()} for item in attachments_of(self.ctx, session, case.id)
            ],
        }
        return view

    def _earlier_claims(self, session: Session, case: Case) -> list[dict[str, Any]]:
        """The customer's compensation claims on cases received before this one, one per case.

        Each shows the claim's latest decision (a two-level sign-off is one claim, not two).
        """
        if case.customer_id is None:
            return []
        rows = session.execute(
            select(Approval, Case.business_key)
            .join(Case, Case.id == Approval.case_id)
            .where(
                Approval.customer_id == case.customer_id,
                Approval.case_id != case.id,
                Approval.remedy == "compensation",
                Case.created_at < case.created_at,
            )
            .order_by(Approval.at, Approval.id)
        ).all()
        latest: dict[str, tuple[Approval, str]] = {}
        for approval, business_key in rows:
            latest.pop(approval.case_id, None)  # re-inserted: ordered by each case's latest decision
            latest[approval.case_id] = (approval, business_key)
        return [
            {
                "case_id": approval.case_id,
                "business_key": business_key,
                "decision": approval.decision,
                "level": approval.level,
                "requested_amount": approval.requested_amount,
                "approved_amount": approval.approved_amount,
                "at": self.ctx.local(approval.at).isoformat(),
            }
            for approval, business_key in latest.values()
        ]

    def decide(
        self,
        actor: Actor,
        task_id: str,
        decision: str,
        comment: str | None,
        approved_amount: float | None,
    ) -> dict:
        """Approve or reject: completes the approval task under the sign-off rules."""
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

    def of_case(self, case_id: str, page: PageRequest) -> dict:
        """Every sign-off decision on a case, oldest first."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            if uow.session.get(Case, case_id) is None:
                raise NotFound(f"no case {case_id}")
            query = select(Approval).where(Approval.case_id == case_id).order_by(Approval.at, Approval.id)
            return paged(uow.session, query, page, lambda a: approval_view(self.ctx, a))
