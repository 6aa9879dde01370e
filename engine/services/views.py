"""Views of rows: the dictionaries of the public contract for tasks, cases and their steps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..definitions.repository import LoadedDefinition
from ..store.models import Case, Escalation, HumanTask
from ..store.queries import open_tasks_of_case, open_tasks_of_cases
from .context import EngineContext
from .links import links_of
from .privacy import mask_text, masked


def task_view(ctx: EngineContext, row: HumanTask, definition: LoadedDefinition | None = None) -> dict:
    view: dict[str, Any] = {
        "id": row.id,
        "case_id": row.case_id,
        "name": row.name,
        "element_id": row.element_id,
        "lane": row.lane,
        "candidate_group": row.candidate_group,
        "assignee": row.assignee,
        "status": row.status,
        "created_at": ctx.local(row.created_at),
        "due_at": ctx.local(row.due_at),
        "completed_at": ctx.local(row.completed_at),
        "completed_by": row.completed_by,
        "is_approval": row.is_approval,
    }
    if definition is not None:
        view["form"] = {
            "schema": definition.form(row.form_file) or {"type": "object"},
            "ui_schema": definition.form(row.ui_form_file) or {},
        }
        view["data"] = row.data
    return view


def case_summary(ctx: EngineContext, case: Case, version: int | None = None) -> dict:
    return {
        "id": case.id,
        "business_key": case.business_key,
        "process": case.process_key,
        "version": version,
        "status": case.status,
        "priority": case.priority,
        "customer_id": case.customer_id,
        "issue_code": case.issue_code,
        "created_at": ctx.local(case.created_at),
        "updated_at": ctx.local(case.updated_at),
    }


def case_view(
    ctx: EngineContext,
    session: Session,
    case: Case,
    open_tasks: list[HumanTask] | None = None,
    whole: bool = True,
) -> dict:
    """The case as the API returns it; pass `open_tasks` when the act just produced them.

    `whole=False` masks the personal fields (DOMAIN §8) for a reader who does not work the case.
    """
    if open_tasks is None:
        open_tasks = open_tasks_of_case(session, case.id)
    escalations: Iterable[Escalation] = ()
    if case.escalated:
        escalations = session.execute(
            select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.id)
        ).scalars()
    view = case_summary(ctx, case, ctx.definitions.version_of(session, case.definition_id))
    far = datetime.max.replace(tzinfo=UTC)
    first_due = min(open_tasks, key=lambda t: (t.due_at or far, t.created_at, t.id), default=None)
    view.update(
        {
            "customer_name": customer_name(case, whole),
            "current_step": step_view(ctx, first_due),
            "data": case.data if whole else masked(case.data),
            "tasks": [task_view(ctx, t) for t in open_tasks],
            "timers": [
                {"name": t["name"], "due_at": ctx.local(datetime.fromisoformat(t["due_at"]))}
                for t in case.timers or []
            ],
            "escalations": [
                {"clock": e.clock, "at": ctx.local(e.at), "name": (e.detail or {}).get("name")}
                for e in escalations
            ],
            "error": local_times(ctx, case.error),
            "links": links_of(session, case.id) if case.linked else [],
        }
    )
    return view


def current_steps(session: Session, case_ids: list[str]) -> dict[str, HumanTask]:
    """The open task that is due first (else the oldest) of each case, in one query."""
    if not case_ids:
        return {}
    rows = session.execute(open_tasks_of_cases(case_ids)).scalars()
    best: dict[str, HumanTask] = {}
    far = datetime.max.replace(tzinfo=UTC)
    for row in rows:
        key = (row.due_at or far, row.created_at, row.id)
        held = best.get(row.case_id)
        if held is None or key < (held.due_at or far, held.created_at, held.id):
            best[row.case_id] = row
    return best


def step_view(ctx: EngineContext, row: HumanTask | None) -> dict | None:
    """A summary's `current_step`: the task, its name and who holds it, and when it is due."""
    if row is None:
        return None
    return {
        "task_id": row.id,
        "name": row.name,
        "element_id": row.element_id,
        "assignee": row.assignee,
        "due_at": ctx.local(row.due_at),
    }


def customer_name(case: Case, whole: bool) -> str | None:
    """The customer's name for a summary: whole, or masked (`张*`) for those who do not work it."""
    customer = (case.data or {}).get("customer")
    name = customer.get("name") if isinstance(customer, dict) else None
    if not isinstance(name, str):
        return None
    return name if whole else mask_text("name", name)


def local_times(ctx: EngineContext, value: Any) -> Any:
    """A stored detail (an event's, a case's error) with every moment in the service's offset.

    Moments are written as ISO 8601 text in UTC by whichever part recorded them; readers get
    them in the service's timezone, like every other time in a response. Only values under keys
    named `at`, `*_at` or `due` are touched, and only when they parse as a moment with an offset.
    """
    if not isinstance(value, dict):
        return value
    result = dict(value)
    for key, item in value.items():
        if isinstance(item, str) and (key in ("at", "due") or key.endswith("_at")):
            try:
                moment = datetime.fromisoformat(item)
            except ValueError:
                continue
            if moment.tzinfo is not None:
                result[key] = ctx.local(moment).isoformat()
    return result
