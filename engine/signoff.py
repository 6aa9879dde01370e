"""The sign-off rules of DOMAIN.md §5, in one place that the task and approval services both use.

An approval task is a user task with the `approvalLevel` property. Claiming or deciding one (as an
approval or by completing it as a task) follows the same rules:
- the decision is `approve` or `reject`; a rejection needs a comment;
- the applicant (the task data field named by `applicantField`) may neither claim nor decide it,
  and nobody who approved an earlier level of the same sign-off may claim or decide a later one:
  the levels of a multi-level sign-off are decided by different people;
- an approval without an amount approves what the level before it approved (for the first level,
  the verified loss when there is one, else the claimed loss); an amount above that is accepted
  only when the approver *says so*: an explicit `approved_amount` together with a comment;
- every decision is stored with approver, time, level, comment and approved amount.

Which levels a sign-off needs is the process's business (the `approval_levels` decision table,
re-decided after each approval from the largest amount anyone would authorise). How the levels
are chained is read from the store: a later level's task is created by the very act that
recorded the approval of the level before it, so that approval has the task's creation time.

What is paid never exceeds what was approved: task data with `amount_paid` is refused when the
task's data holds an `approved_amount` below it (`check_payment`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Forbidden, ValidationFailed
from .identity import Actor
from .projection import add_event
from .store.models import Approval, Case, HumanTask

DECISIONS = ("approve", "reject")

# CNY. Amounts are stored as NUMERIC(14, 2): twelve digits before the point.
MAX_AMOUNT = 1_000_000_000

# Fields with a fixed meaning (API.md): what the customer claims, what an investigation verified,
# what a sign-off approved and what was paid.
CLAIMED_FIELD = "loss_amount"
VERIFIED_FIELD = "verified_loss_amount"
APPROVED_FIELD = "approved_amount"
PAID_FIELD = "amount_paid"


def amount(value: Any) -> float | None:
    """A money amount as a float, or None when the value is not a number from 0 to MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or not 0 <= value <= MAX_AMOUNT:  # NaN, negative, too large
        return None
    return float(value)


def earlier_approvals(session: Session, row: HumanTask) -> list[Approval]:
    """The approvals of the earlier levels of this sign-off, the nearest level first.

    The approval that opened a level was recorded in the act that created that level's task, so it
    carries the task's creation time; following that link back gives the whole chain.
    """
    chain: list[Approval] = []
    seen = {row.id}
    current: HumanTask | None = row
    while current is not None:
        approval = session.execute(
            select(Approval)
            .where(
                Approval.case_id == current.case_id,
                Approval.decision == "approve",
                Approval.at == current.created_at,
            )
            .order_by(Approval.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if approval is None or approval.task_id in seen:
            break
        chain.append(approval)
        seen.add(approval.task_id)
        current = session.get(HumanTask, approval.task_id)
    return chain


def check_may_take(actor: Actor, applicant: str | None, chain: list[Approval]) -> None:
    """Refuse the applicant and the approvers of earlier levels (claiming or deciding alike)."""
    if applicant is not None and applicant == actor.username:
        raise Forbidden("the applicant may not claim or decide the sign-off of their own application")
    for approval in chain:
        if approval.approver == actor.username:
            raise Forbidden(
                f"you approved the {approval.level} level of this sign-off; another person decides this level"
            )


def check_may_claim(session: Session, actor: Actor, row: HumanTask) -> None:
    """The sign-off rules for claiming an approval task (call only for approval tasks)."""
    check_may_take(actor, row.applicant, earlier_approvals(session, row))


def _comment(data: dict[str, Any]) -> str:
    value = data.get("comment")
    return value.strip() if isinstance(value, str) else ""


def _ceiling(task_data: dict[str, Any], chain: list[Approval]) -> tuple[float | None, str]:
    """What the level before this one authorised, and how to name it in an error."""
    if chain:
        return chain[0].approved_amount, f"what the {chain[0].level} level approved"
    verified = amount(task_data.get(VERIFIED_FIELD))
    if verified is not None:
        return verified, "the verified loss"
    return amount(task_data.get(CLAIMED_FIELD)), "the amount claimed"


def check_and_record_decision(
    session: Session,
    actor: Actor,
    case: Case,
    row: HumanTask,
    data: dict[str, Any],
    task_data: dict[str, Any],
    applicant: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Enforce the sign-off rules and store the decision; returns the data to complete the task with.

    `task_data` is the approval task's own workflow data (claim, verification, earlier decisions);
    `applicant` the whole identity of the applicant as the workflow holds it.
    """
    decision = data.get("decision")
    comment = _comment(data)
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = ["must be approve or reject"]
    if decision == "reject" and not comment:
        errors["comment"] = ["a rejection needs a comment saying why"]
    approved_amount = data.get(APPROVED_FIELD)
    if approved_amount is not None and amount(approved_amount) is None:
        errors[APPROVED_FIELD] = [f"must be a number from 0 to {MAX_AMOUNT}"]
    if errors:
        raise ValidationFailed("the decision is incomplete", errors)
    chain = earlier_approvals(session, row)
    check_may_take(actor, applicant, chain)

    ceiling, ceiling_name = _ceiling(task_data, chain)
    if decision == "reject":
        approved = None
    elif approved_amount is None:
        approved = ceiling
    else:
        approved = amount(approved_amount)
        if ceiling is not None and approved is not None and approved > ceiling and not comment:
            raise ValidationFailed(
                "the decision is incomplete",
                {
                    APPROVED_FIELD: [
                        f"more than {ceiling_name} ({ceiling:g}): approving more needs a comment saying why"
                    ]
                },
            )
    level = row.approval_level
    session.add(
        Approval(
            case_id=case.id,
            task_id=row.id,
            customer_id=case.customer_id,
            approver=actor.username,
            applicant=applicant,
            decision=decision,
            comment=comment or None,
            remedy=task_data.get("remedy") if isinstance(task_data.get("remedy"), str) else None,
            requested_amount=amount(task_data.get(CLAIMED_FIELD)),
            approved_amount=approved,
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
        {"decision": decision, "level": level, "approved_amount": approved, "comment": comment},
    )
    return {**data, "decision": decision, "comment": comment, APPROVED_FIELD: approved}


def check_payment(data: dict[str, Any], task_data: dict[str, Any]) -> None:
    """What is paid never exceeds what was approved (once a sign-off has approved an amount)."""
    if PAID_FIELD not in data or APPROVED_FIELD not in task_data:
        return
    paid = amount(data.get(PAID_FIELD))
    approved = amount(task_data.get(APPROVED_FIELD)) or 0.0
    if paid is not None and paid > approved:
        raise ValidationFailed(
            "more would be paid than was approved",
            {PAID_FIELD: [f"must not exceed the approved amount ({approved:g})"]},
        )
