"""User tasks: the inbox, claiming, and completing a task (the one act people do most).

Who may do what, enforced here so every caller (HTTP, CLI, tests) gets the same rules:
- see a task: its assignee, members of its candidate group, supervisors and admins; an inbox
  lists the open tasks assigned to me and the unclaimed ones of my groups;
- claim: a member of the candidate group, while nobody else holds it (claiming a task you hold
  changes and records nothing); approval tasks add the sign-off rules of `engine.signoff` (the
  applicant and earlier levels' approvers may not claim);
- unclaim: its assignee, or a supervisor;
- complete: its assignee or, while unclaimed, a member of its candidate group. Approval tasks
  add the sign-off rules of `engine.signoff`; no task's data may pay more than was approved.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BindParameter, bindparam, or_, select

from ..calendar import utc_now
from ..errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from ..identity import Actor
from ..projection import apply_act, record_claim, record_completion, record_release
from ..runtime import NotWaiting
from ..signoff import check_and_record_decision, check_may_claim, check_payment
from ..store.models import Case, HumanTask
from ..store.queries import in_inbox_of
from .context import EngineContext, PagedStatement, PageRequest, acting, paged_statement
from .ownership import check_may_release
from .views import case_view, task_view

OVERSEERS = ("supervisors", "admins")
TASK_STATUSES = ("open", "completed", "cancelled")


def may_see(actor: Actor, row: HumanTask) -> bool:
    return (
        actor.in_any(*OVERSEERS)
        or row.assignee == actor.username
        or row.completed_by == actor.username
        or (row.candidate_group is not None and row.candidate_group in actor.groups)
    )


def check_may_complete(actor: Actor, row: HumanTask) -> None:
    if row.assignee is not None:
        if row.assignee != actor.username:
            raise Forbidden(f"the task is claimed by {row.assignee}")
    elif row.candidate_group not in actor.groups:
        raise Forbidden(f"the task is for the group {row.candidate_group}")


class TaskService:
    def __init__(self, ctx: EngineContext):
        self.ctx = ctx

    def list(
        self,
        actor: Actor,
        page: PageRequest,
        mine: bool = False,
        group: str | None = None,
        case_id: str | None = None,
        status: str = "open",
        approvals_only: bool = False,
    ) -> dict:
        if status not in TASK_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(TASK_STATUSES)}")
        overseer = actor.in_any(*OVERSEERS)
        # One bound value per group; with none, `IN (NULL)`, which matches nothing.
        groups: list[str | None] = [*sorted(actor.groups)] or [None]
        statement = _task_list_statement(
            mine, overseer, status == "open", bool(group), bool(case_id), approvals_only, len(groups)
        )
        params = {
            "status": status,
            "username": actor.username,
            "group": group,
            "case_id": case_id,
            **{f"group_{i}": name for i, name in enumerate(groups)},
        }
        with self.ctx.db.read_connection() as connection:
            return paged_statement(connection, statement, params, page, lambda row: task_view(self.ctx, row))

    def get(self, actor: Actor, task_id: str) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = uow.session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            if not may_see(actor, row):
                raise Forbidden("this task is not in your inbox")
            definition = self.ctx.definitions.load_id(uow.session, _definition_id(uow.session, row))
            return task_view(self.ctx, row, definition)

    def claim(self, actor: Actor, task_id: str) -> dict:
        with acting(self.ctx) as uow:
            row = self._open_row(uow.session, task_id)
            if row.candidate_group not in actor.groups:
                raise Forbidden(f"the task is for the group {row.candidate_group}")
            if row.assignee == actor.username:
                return task_view(self.ctx, row)  # already mine: nothing happens, nothing to record
            if row.is_approval:
                check_may_claim(uow.session, actor, row)
            if not record_claim(uow.session, row, actor, utc_now()):
                if row.status != "open":
                    raise Conflict("the task is no longer open")
                raise Conflict(f"the task is claimed by {row.assignee}")
            return task_view(self.ctx, row)

    def unclaim(self, actor: Actor, task_id: str) -> dict:
        with acting(self.ctx) as uow:
            row = self._open_row(uow.session, task_id)
            may = row.assignee == actor.username or actor.in_any(*OVERSEERS)
            if row.assignee is None:
                may = may or row.candidate_group in actor.groups
            if not may:
                raise Forbidden(
                    f"the task is claimed by {row.assignee}" if row.assignee else "not your group's task"
                )
            check_may_release(uow.session, actor, row)
            if row.assignee is None:
                return task_view(self.ctx, row)
            record_release(uow.session, row, actor, utc_now())
            return task_view(self.ctx, row)

    def complete(self, actor: Actor, task_id: str, data: dict[str, Any]) -> dict:
        """Complete a user task with its form data and run the case on to its next wait."""
        with acting(self.ctx) as uow:
            session = uow.session
            found = uow.lock_task_case_and_open_tasks(task_id)
            if found is None:
                raise NotFound(f"no task {task_id}")
            row, case, open_rows = found
            if row.status != "open":
                raise Conflict(f"the task is already {row.status}")
            check_may_complete(actor, row)
            definition = self.ctx.definition_of(session, case)
            data = definition.form_data(row.form_file, data, "the data does not match the task's form")
            now = utc_now()
            runtime = self.ctx.runtime_of(session, case)
            meta_task = runtime.ready_user_task(task_id)
            if meta_task is None:
                raise Conflict("the task is no longer open")
            meta = definition.meta(meta_task.task_spec)
            task_data = meta_task.data
            errors = date_order_errors(definition.form(row.form_file), data, task_data)
            if errors:
                raise ValidationFailed("the data does not match the task's form", errors)
            check_payment(data, task_data)
            if row.is_approval:
                applicant = task_data.get(meta.applicant_field)
                data = check_and_record_decision(
                    session,
                    actor,
                    case,
                    row,
                    data,
                    task_data,
                    applicant if isinstance(applicant, str) else row.applicant,
                    now,
                )
            actor_field = meta.actor_field
            if actor_field:
                data = {**data, actor_field: actor.username}
            try:
                runtime.complete_task(task_id, data)
            except NotWaiting:
                raise Conflict("the task is no longer open") from None
            record_completion(session, case, row, actor, now, data)
            open_tasks = apply_act(session, case, runtime, actor, now, self.ctx.directory, open_rows)
            return case_view(self.ctx, session, case, open_tasks)

    @staticmethod
    def _open_row(session, task_id: str) -> HumanTask:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if row.status != "open":
            raise Conflict(f"the task is already {row.status}")
        return row


def date_order_errors(
    form: dict | None, data: dict[str, Any], task_data: dict[str, Any]
) -> dict[str, list[str]]:
    """Dates a form marks `"x-not-after": "<field>"` may not be after the day of that data field.

    JSON Schema cannot compare one value with another, so the form names the bound and the engine
    checks it: the application's purchase date may not be after the complaint's `received_at`.
    """
    errors: dict[str, list[str]] = {}
    properties = form.get("properties") if isinstance(form, dict) else None
    for name, schema in (properties or {}).items():
        bound_field = schema.get("x-not-after") if isinstance(schema, dict) else None
        value, bound = data.get(name), task_data.get(bound_field) if isinstance(bound_field, str) else None
        # ISO 8601 dates compare as text; a moment's first ten characters are its local date.
        if isinstance(value, str) and isinstance(bound, str) and value[:10] > bound[:10]:
            errors[name] = [f"is after the day of {bound_field} ({bound[:10]})"]
    return errors


_TASKS = HumanTask.__table__.c
# What an inbox row shows (`task_view` without a definition): plain columns, read as rows, not
# as ORM objects, and without the task's data, which only a single task's view carries.
_INBOX_COLUMNS = (
    _TASKS.id,
    _TASKS.case_id,
    _TASKS.name,
    _TASKS.element_id,
    _TASKS.lane,
    _TASKS.candidate_group,
    _TASKS.assignee,
    _TASKS.status,
    _TASKS.created_at,
    _TASKS.due_at,
    _TASKS.completed_at,
    _TASKS.completed_by,
    _TASKS.approval_level.is_not(None).label("is_approval"),
)


@functools.lru_cache(maxsize=256)
def _task_list_statement(
    mine: bool,
    overseer: bool,
    open_only: bool,
    by_group: bool,
    by_case: bool,
    approvals_only: bool,
    group_count: int,
) -> PagedStatement:
    """The inbox query for one combination of filters and number of groups (`group_0` …), built
    once; values are bound per call."""
    query = select(*_INBOX_COLUMNS).where(_TASKS.status == bindparam("status"))
    if mine:
        query = query.where(_TASKS.assignee == bindparam("username"))
    elif not overseer:
        groups: list[BindParameter[str]] = [bindparam(f"group_{i}") for i in range(group_count)]
        if open_only:
            # Mine, or open to one of my groups: a task a colleague holds is theirs, not the group's.
            visible = in_inbox_of(bindparam("username"), groups)
        else:
            visible = or_(_TASKS.completed_by == bindparam("username"), _TASKS.candidate_group.in_(groups))
        query = query.where(visible)
    if by_group:
        query = query.where(_TASKS.candidate_group == bindparam("group"))
    if by_case:
        query = query.where(_TASKS.case_id == bindparam("case_id"))
    if approvals_only:
        query = query.where(_TASKS.approval_level.is_not(None))
    query = query.order_by(
        _TASKS.priority_rank,
        _TASKS.due_at.is_(None),
        _TASKS.due_at,
        _TASKS.created_at,
        _TASKS.id,
    )
    return PagedStatement.of(query)


def _definition_id(session, row: HumanTask) -> int:
    return session.execute(select(Case.definition_id).where(Case.id == row.case_id)).scalar_one()
