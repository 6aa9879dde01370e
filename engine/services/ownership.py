"""First-contact ownership (首问负责) and putting a failed case back on its feet.

Why a module of its own: the rule "the person who took the complaint keeps it" touches starting
a case, releasing a task and reassigning a case, and every caller (HTTP, CLI, tests) must meet
the same rule:
- at intake the owner is the agent who took the call: the caller, or the agent an integration
  names in `data.taken_by` (a username in `agents`);
- the owner cannot unclaim (hand back) a task of their own case that is theirs; only a
  supervisor moves a case to another person, with a reason, recorded as `case_reassigned`;
- a case in `error` can be run again by a supervisor or an admin once the cause was fixed,
  optionally correcting the data the failed step works on.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from ..calendar import utc_now
from ..errors import Conflict, Forbidden, ValidationFailed
from ..identity import Actor
from ..projection import add_event, apply_act, record_reassignment
from ..store.models import ACTIVE_STATUSES, Case, HumanTask
from .context import EngineContext, acting, lock_case, require_groups
from .privacy import OWNER_FIELD, owner_of
from .views import case_view

OWNER_GROUP = "agents"
REASSIGNERS = ("supervisors",)
RETRIERS = ("supervisors", "admins")
# Fields the service itself writes at intake: a retry may not rewrite them.
SYSTEM_FIELDS = frozenset({"case_id", "business_key", "received_at", OWNER_FIELD, "taken_by", "facts"})
MAX_REASON = 2000


def owner_at_intake(ctx: EngineContext, actor: Actor, data: dict[str, Any]) -> str:
    """The first-contact owner of a case being started; takes `taken_by` out of `data`.

    `taken_by` must name a user in `agents`. An agent starting a case takes it themselves: they
    cannot name a colleague (that would be handing the customer on). Raises ValidationFailed.
    """
    if "taken_by" not in data:
        return actor.username
    taken_by = data.pop("taken_by")
    problem = None
    directory = ctx.directory
    user = directory.users.get(taken_by) if directory is not None and isinstance(taken_by, str) else None
    if not isinstance(taken_by, str) or not taken_by.strip():
        problem = "must be the username of the agent who took the complaint"
    elif user is None:
        problem = f"there is no user {taken_by}"
    elif OWNER_GROUP not in user.groups:
        problem = f"{taken_by} is not in the group {OWNER_GROUP}"
    elif (
        actor.in_any(OWNER_GROUP)
        and not actor.in_any("integrations", "supervisors", "admins")
        and taken_by != actor.username
    ):
        problem = "an agent takes the complaint themselves; only a supervisor reassigns it"
    if problem:
        raise ValidationFailed("the case data does not match the start form", {"data.taken_by": [problem]})
    return taken_by


def check_may_release(session, actor: Actor, row: HumanTask) -> None:
    """The owner may not unclaim a task of their own case that they hold (only a supervisor
    reassigns the case). Raises Forbidden."""
    if row.assignee is None or row.assignee != actor.username or actor.in_any("supervisors", "admins"):
        return
    data = session.execute(select(Case.data).where(Case.id == row.case_id)).scalar()
    if isinstance(data, dict) and data.get(OWNER_FIELD) == actor.username:
        raise Forbidden(
            "you are the first-contact owner of this case and keep its tasks; "
            "a supervisor can reassign the case (POST /api/v1/cases/{id}/reassign)"
        )


class OwnershipService:
    """Reassigning a case's owner, and retrying a case in error."""

    def __init__(self, ctx: EngineContext):
        self.ctx = ctx

    def reassign(self, actor: Actor, case_id: str, to: str, reason: str) -> dict:
        """Make `to` (a user in agents) the case's owner; their open tasks move with it."""
        require_groups(actor, *REASSIGNERS)
        errors: dict[str, list[str]] = {}
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            errors["reason"] = ["a reason is required"]
        elif len(reason) > MAX_REASON:
            errors["reason"] = [f"at most {MAX_REASON} characters"]
        directory = self.ctx.directory
        user = directory.users.get(to) if directory is not None and isinstance(to, str) else None
        if user is None:
            errors["to"] = [f"there is no user {to}"]
        elif OWNER_GROUP not in user.groups:
            errors["to"] = [f"{to} is not in the group {OWNER_GROUP}"]
        if errors:
            raise ValidationFailed("the case cannot be reassigned like this", errors)
        with acting(self.ctx) as uow:
            session = uow.session
            case = lock_case(uow, case_id)
            if case.status not in ACTIVE_STATUSES:
                raise Conflict(f"the case is {case.status}; it has no owner to change")
            previous = owner_of(case)
            if previous == to:
                raise ValidationFailed(
                    "the case cannot be reassigned like this", {"to": [f"{to} already owns the case"]}
                )
            assert user is not None  # checked above: an unknown user is an error
            runtime = self.ctx.runtime_of(session, case)
            # Every task, finished ones included: a waiting event (a reminder timer) takes its data
            # from its finished parent again each time it is refreshed.
            for task in runtime.workflow.get_tasks():
                if OWNER_FIELD in task.data:
                    task.data[OWNER_FIELD] = to
            record_reassignment(
                session, case, runtime, actor, utc_now(), OWNER_FIELD, previous, to, user.groups, reason
            )
            return case_view(self.ctx, session, case)

    def retry(self, actor: Actor, case_id: str, data: dict[str, Any] | None = None) -> dict:
        """Run a case in `error` again; `data` corrects fields the failed step reads."""
        require_groups(actor, *RETRIERS)
        data = data or {}
        touched = sorted(SYSTEM_FIELDS.intersection(data))
        if touched:
            raise ValidationFailed(
                "these fields are the service's own",
                {f"data.{name}": ["may not be changed"] for name in touched},
            )
        with acting(self.ctx) as uow:
            session = uow.session
            case = lock_case(uow, case_id)
            if case.status != "error":
                raise Conflict(f"the case is {case.status}, not in error; there is nothing to retry")
            runtime = self.ctx.runtime_of(session, case)
            failed = runtime.workflow.get_tasks(state=TaskState.ERROR)
            for task in failed:
                task.data.update(data)
            now = utc_now()
            add_event(
                session,
                case.id,
                now,
                actor,
                "case_retried",
                detail={"by_hand": True, "error": case.error, "data": data},
            )
            runtime.retry()
            if not failed:
                # Failed outside a task (e.g. while firing timers): fire again.
                runtime.fire_timers()
            open_tasks = apply_act(session, case, runtime, actor, now, self.ctx.directory)
            return case_view(self.ctx, session, case, open_tasks)
