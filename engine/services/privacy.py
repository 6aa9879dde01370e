"""Personal data (DOMAIN §8): who sees a case whole, who owns it, and what the others see masked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..identity import Actor
from ..store.models import Case, HumanTask
from ..store.queries import unclaimed_for

# The personal fields of case data, by kind. Keys are compared in lower case. Inside the
# `customer` object: these names; anywhere in the data: a key ending in one of PERSONAL_SUFFIXES
# (`contact_phone`, `delivery_address`, ...). The customer's id, the product and the problem are
# not personal: they are what the work is about.
CUSTOMER_FIELDS = {
    "name": "name",
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "email": "email",
    "address": "address",
    "id_card": "phone",
    "id_number": "phone",
}
PERSONAL_SUFFIXES = {
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "email": "email",
    "address": "address",
    "customer_name": "name",
    "contact_name": "name",
    "caller_name": "name",
}
# Groups that may open any case whole (the read of one they do not work is recorded).
OVERSEERS = ("supervisors", "admins")
# The case's owner (首问负责): the first-contact owner, or whoever a supervisor reassigned it to.
OWNER_FIELD = "first_contact_owner"


def mask_text(kind: str, value: Any) -> Any:
    """One personal value as someone who does not work the case sees it.

    `13800000000` → `138****0000`; `张三` → `张*`; an address keeps its first few characters (the
    city), an e-mail its first character and domain. Anything else becomes `***`.
    """
    if value is None or value == "":
        return value
    if not isinstance(value, str):
        return "***"
    if kind == "name":
        return value[0] + "*" * max(1, len(value) - 1)
    if kind == "phone":
        if len(value) >= 8:
            return value[:3] + "*" * (len(value) - 7) + value[-4:]
        return "*" * len(value)
    if kind == "email":
        local, at, domain = value.partition("@")
        return (local[:1] + "***" + at + domain) if at else "***"
    if kind == "address":
        keep = min(6, len(value) // 3)
        return value[:keep] + "****"
    return "***"


def _personal_kind(key: str, in_customer: bool) -> str | None:
    lowered = key.lower()
    if in_customer and lowered in CUSTOMER_FIELDS:
        return CUSTOMER_FIELDS[lowered]
    for suffix, kind in PERSONAL_SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    return None


def masked(value: Any, in_customer: bool = False) -> Any:
    """A copy of case data (or an event's detail) with every personal field masked."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            kind = _personal_kind(str(key), in_customer)
            if kind is not None and not isinstance(item, dict | list):
                result[key] = mask_text(kind, item)
            else:
                result[key] = masked(item, in_customer=str(key).lower() == "customer")
        return result
    if isinstance(value, list):
        return [masked(item, in_customer) for item in value]
    return value


def integration_only(actor: Actor) -> bool:
    """An integration (and nothing else) sees only the cases it started."""
    return actor.in_any("integrations") and not (actor.groups - {"integrations"})


def owner_of(case: Case) -> str | None:
    """The case's owner: `data.first_contact_owner`, which a reassignment moves.

    The one owner field of the service: a field that happens to be called `owner` (a vehicle's
    owner, say) names nobody who works the case.
    """
    owner = (case.data or {}).get(OWNER_FIELD)
    return owner if isinstance(owner, str) else None


def cases_worked_by(session: Session, actor: Actor, cases: list[Case]) -> set[str]:
    """The ids of those cases the actor works (DOMAIN §8), in one query for a whole page.

    They work a case when they started it or own it, hold or completed one of its tasks, or one
    of its open unclaimed tasks is offered to one of their groups (approvers of its applications
    included: a sign-off is such a task).
    """
    worked = {c.id for c in cases if actor.username in (c.created_by, owner_of(c))}
    rest = [c.id for c in cases if c.id not in worked]
    if not rest:
        return worked
    groups = sorted(actor.groups)
    query = (
        select(HumanTask.case_id)
        .where(HumanTask.case_id.in_(rest))
        .where(
            (HumanTask.assignee == actor.username)
            | (HumanTask.completed_by == actor.username)
            | ((HumanTask.status == "open") & unclaimed_for(groups))
        )
        .distinct()
    )
    worked.update(session.execute(query).scalars())
    return worked


def sees_case_whole(session: Session, actor: Actor, case: Case) -> bool:
    """Whether the actor sees this one case whole (DOMAIN §8): an overseer, or one who works it.

    The same rule for the case view and for its evidence (attachments); for a page of cases use
    `cases_worked_by` once.
    """
    return actor.in_any(*OVERSEERS) or case.id in cases_worked_by(session, actor, [case])
