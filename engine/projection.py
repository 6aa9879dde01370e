"""Write down what an act did: case columns, the inbox projection, timers, audit events.

Runs inside the act's transaction, after the workflow has moved, so the state and every
projection of it commit together or not at all. The one module that writes case, task, timer and
event state: an act's outcome (`apply_act`), a completed task (`record_completion`), a cancelled
case (`record_cancel`) and a failed act (`record_error`, whether the workflow reported the error
or the act raised) are all written here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import EscalationEventDefinition
from sqlalchemy import CursorResult, bindparam, event, insert, or_, update
from sqlalchemy.orm import Session

from .facts import section
from .identity import SYSTEM, Actor, Directory
from .runtime import CaseRuntime
from .store.models import Case, CaseEvent, Escalation, HumanTask
from .store.pg_transactions import check_nothing_after_commit
from .store.prepared import Prepared, new_row
from .store.queries import open_tasks_of_cases
from .store.row_writes import write_case_and_task_rows

PRIORITIES = ("urgent", "ordinary")
# A case that keeps failing is left in `error` for people after this many automatic retries.
MAX_RETRIES = 8


def deep_merge(target: dict, source: dict) -> dict:
    """Merge `source` into `target`: nested dicts merge, anything else replaces."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value
    return target


def json_safe(value: Any) -> Any:
    """Case data as JSON: a copy to the bottom, in which anything a script made that JSON cannot
    hold (a date, a set) has become its text.

    Through the C JSON encoder and decoder: 1.3 to 1.6 times as fast as walking the data in Python
    (the data of a case reopened twenty times is some 20 KB, copied twice an act and once for each
    new task); the walk remains for what the encoder refuses (a key that is not text).
    """
    try:
        return json.loads(json.dumps(value, ensure_ascii=False, default=_as_json))
    except (TypeError, ValueError):
        return _walked(value)


def _as_json(value: Any) -> Any:
    if isinstance(value, set):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _walked(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _walked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_walked(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def add_event(
    session: Session,
    case_id: str,
    at: datetime,
    actor: Actor | str,
    type_: str,
    task_id: str | None = None,
    detail: dict | None = None,
) -> None:
    """Record an audit event; it is written with the act's others when the transaction commits."""
    pending = session.info.get(_PENDING_EVENTS)
    if pending is None:
        pending = session.info[_PENDING_EVENTS] = []
    pending.append(
        {
            "case_id": case_id,
            "at": at,
            "actor": actor if isinstance(actor, str) else actor.username,
            "type": type_,
            "task_id": task_id,
            "detail": detail or {},
        }
    )


# An act's audit events wait in `session.info` and go in one multi-row INSERT just before the
# commit: the ORM would insert them as objects with `RETURNING id` to learn keys nobody reads.
# Nothing reads events inside the transaction that writes them; their order (by id) is the
# order they were added in, as before.
_PENDING_EVENTS = "pending_case_events"
_INSERT_EVENTS = Prepared(
    insert(CaseEvent).values(
        {name: bindparam(name) for name in ("case_id", "at", "actor", "type", "task_id", "detail")}
    )
)


@event.listens_for(Session, "before_commit")
def _write_act(session: Session) -> None:
    """At commit: the case and task rows and the audit events (which refer to the case rows) in
    one batch of prebuilt statements, then the rest (approvals, escalations ...) through the
    ORM's flush."""
    pending = session.info.pop(_PENDING_EVENTS, None)
    committed = write_case_and_task_rows(
        session, *([(_INSERT_EVENTS, pending)] if pending else []), last=True
    )
    session.flush()
    if committed:
        check_nothing_after_commit(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_events(session: Session, _previous_transaction) -> None:
    session.info.pop(_PENDING_EVENTS, None)


def query_columns(case: Case) -> None:
    """Copy the fields queries filter on out of the case data."""
    data = case.data or {}
    customer = section(data, "customer")
    problem = section(data, "problem")
    case.customer_id = _text(customer.get("id"))
    case.customer_tier = _text(customer.get("tier"))
    case.issue_code = _text(problem.get("issue_code"))
    priority = data.get("priority")
    case.priority = priority if priority in PRIORITIES else "ordinary"


def breaches(runtime: CaseRuntime) -> list[tuple[str, str | None]]:
    """(clock, name) of each SLA escalation this act threw: the code and the escalation's name."""
    return [
        (event.event_definition.code or event.event_definition.name, event.event_definition.name)
        for event in runtime.log.thrown
        if isinstance(event.event_definition, EscalationEventDefinition)
    ]


def schedule_retry(case: Case, now: datetime) -> None:
    """After a failure: retry in 2, 4, 8 … seconds (at most an hour), and stop after MAX_RETRIES.

    A failure that is the same every time (`retryable: false`: a sandbox limit) is not retried.
    """
    case.timer_failures = (case.timer_failures or 0) + 1
    if case.timer_failures > MAX_RETRIES or (case.error or {}).get("retryable") is False:
        case.next_timer_at = None
        return
    case.next_timer_at = now + timedelta(seconds=min(3600, 2**case.timer_failures))


def _text(value: Any, limit: int = 100) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def apply_act(
    session: Session,
    case: Case,
    runtime: CaseRuntime,
    actor: Actor | str,
    now: datetime,
    directory: Directory | None = None,
    open_rows: list[HumanTask] | None = None,
) -> list[HumanTask]:
    """Bring the case row, its open tasks, timers and audit trail in line with the workflow.

    `open_rows` are the case's open task rows when the caller has already read them (the timer
    worker reads a whole batch's at once); otherwise they are queried here.
    Returns the case's open tasks, oldest first (so the caller need not query them again).
    """
    with session.no_autoflush:
        return _apply_act(session, case, runtime, actor, now, directory, open_rows)


def _apply_act(session, case, runtime, actor, now, directory, open_rows) -> list[HumanTask]:
    log = runtime.log
    case.state = runtime.dump()
    # A copy to the bottom: deep_merge changes nested dicts in place, and those of `case.data` are
    # also the ORM's record of what was loaded. Merged into them, a change nested in an existing
    # key (a second call's `contact`) looked unchanged to the ORM's flush, which then skipped it.
    data = json_safe(case.data or {})
    for task in log.completed:
        deep_merge(data, task.data)
    case.data = json_safe(data)
    query_columns(case)

    # What the clock did is the system's act, whoever's act noticed the time had passed.
    for timer in log.timers_fired:
        add_event(
            session,
            case.id,
            now,
            SYSTEM,
            "timer_fired",
            None,
            {"element_id": timer.element_id, "name": timer.name, "due_at": timer.due},
        )
    for clock, name in breaches(runtime):
        case.escalated = True
        session.add(Escalation(case_id=case.id, clock=clock, at=now, detail={"name": name}))
        add_event(session, case.id, now, SYSTEM, "sla_breached", None, {"clock": clock})

    open_tasks = _sync_tasks(session, case, runtime, actor, now, directory, open_rows)

    timers = runtime.pending_timers()
    case.timers = [{"name": t["name"], "due_at": t["due_at"].isoformat()} for t in timers]
    if log.error is None:
        case.next_timer_at = timers[0]["due_at"] if timers else None
        case.timer_failures = 0

    if log.error is not None:
        record_error(session, case, actor, now, log.error)
    elif runtime.completed:
        case.status = "completed"
        case.ended_at = now
        case.error = None
        case.next_timer_at = None
        add_event(session, case.id, now, actor, "case_completed")
    else:
        case.status = "running"
        case.error = None
    case.updated_at = now
    return open_tasks


def record_start(
    session: Session,
    *,
    case_id: str,
    process_key: str,
    definition_id: int,
    version: int,
    business_key: str,
    actor: Actor,
    now: datetime,
    data: dict,
) -> Case:
    """A new case's row and its `case_started` event (the act's own effects follow in `apply_act`)."""
    case = new_row(
        Case,
        id=case_id,
        process_key=process_key,
        definition_id=definition_id,
        business_key=business_key,
        status="running",
        created_by=actor.username,
        created_at=now,
        updated_at=now,
        data=data,
        timers=[],
        timer_failures=0,
    )
    session.add(case)
    add_event(
        session,
        case_id,
        now,
        actor,
        "case_started",
        detail={"process": process_key, "version": version, "business_key": business_key},
    )
    return case


def record_error(session: Session, case: Case, actor: Actor | str, now: datetime, detail: dict) -> None:
    """A failed act: the case in `error` with what went wrong (`detail`, its moment added), a
    retry scheduled, and a `case_error` event. The workflow's own error (a script that raised)
    and an act that failed outright (the timer worker's) are written down alike."""
    case.status = "error"
    case.error = {**detail, "at": now.isoformat()}
    schedule_retry(case, now)
    add_event(session, case.id, now, actor, "case_error", None, detail)


def record_completion(
    session: Session, case: Case, row: HumanTask, actor: Actor, now: datetime, data: dict
) -> None:
    """A user task completed by `actor` with `data` (before `apply_act` writes what followed)."""
    row.status = "completed"
    row.assignee = row.assignee or actor.username
    row.completed_by = actor.username
    row.completed_at = now
    add_event(
        session,
        case.id,
        now,
        actor,
        "task_completed",
        row.id,
        {"element_id": row.element_id, "name": row.name, "data": data},
    )


def record_cancel(
    session: Session, case: Case, runtime: CaseRuntime, actor: Actor, now: datetime, reason: str
) -> None:
    """A case cancelled (its workflow already cancelled in `runtime`): its open tasks closed,
    no timers left, the case `cancelled` with the reason in a `case_cancelled` event."""
    for task in session.execute(open_tasks_of_cases([case.id])).scalars():
        task.status = "cancelled"
        task.completed_at = now
    case.status = "cancelled"
    case.ended_at = now
    case.updated_at = now
    case.next_timer_at = None
    case.timers = []
    case.state = runtime.dump()
    add_event(session, case.id, now, actor, "case_cancelled", detail={"reason": reason})


def record_reassignment(
    session: Session,
    case: Case,
    runtime: CaseRuntime,
    actor: Actor,
    now: datetime,
    owner_field: str,
    previous: str | None,
    to: str,
    to_groups: frozenset[str],
    reason: str,
) -> None:
    """A case's owner changed from `previous` to `to` (the workflow's task data already moved in
    `runtime`): the open tasks `previous` held that `to` may work move with it, the case data
    names the new owner, and a `case_reassigned` event lists the tasks that moved."""
    moved = []
    for row in session.execute(open_tasks_of_cases([case.id])).scalars():
        if previous is not None and row.assignee == previous and row.candidate_group in to_groups:
            row.assignee = to
            moved.append(row.id)
    case.data = {**(case.data or {}), owner_field: to}
    case.state = runtime.dump()
    case.updated_at = now
    add_event(
        session,
        case.id,
        now,
        actor,
        "case_reassigned",
        detail={"from": previous, "to": to, "reason": reason, "tasks": moved},
    )


def record_claim(session: Session, row: HumanTask, actor: Actor, now: datetime) -> bool:
    """Claim an open task for `actor` if it is still open and nobody else holds it, with a
    `task_claimed` event; False (nothing written) when a concurrent act got there first.

    One conditional UPDATE, so two claims racing cannot both win; `row` is read again either way
    so the caller sees the task as it now is.
    """
    # An UPDATE's result is a CursorResult (its rowcount); Session.execute is typed as Result.
    claimed = cast(
        CursorResult[Any],
        session.execute(
            update(HumanTask)
            .where(
                HumanTask.id == row.id,
                HumanTask.status == "open",
                or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.username),
            )
            .values(assignee=actor.username)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    session.refresh(row)
    if claimed != 1:
        return False
    add_event(session, row.case_id, now, actor, "task_claimed", row.id)
    return True


def record_release(session: Session, row: HumanTask, actor: Actor, now: datetime) -> None:
    """A claimed task given back to its group, with a `task_unclaimed` event naming who held it."""
    previous = row.assignee
    row.assignee = None
    add_event(session, row.case_id, now, actor, "task_unclaimed", row.id, {"assignee": previous})


def _assignee(meta, task, directory: Directory | None) -> str | None:
    """The user named by the task's `assigneeField`, if they may work on it."""
    if not meta.assignee_field or directory is None:
        return None
    username = task.data.get(meta.assignee_field)
    user = directory.users.get(username) if isinstance(username, str) else None
    return username if user is not None and meta.candidate_group in user.groups else None


def _due_from_data(meta, task) -> datetime | None:
    """The moment in the task's `dueField`, when it holds a valid ISO 8601 time with offset."""
    value = task.data.get(meta.due_field) if meta.due_field else None
    try:
        due = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return due.astimezone(UTC) if due is not None and due.tzinfo is not None else None


def _follow_new_owner(row: HumanTask, meta, task, directory: Directory | None) -> None:
    """An open task moves to the person its `assigneeField` names when the data names someone new.

    An upgrade that asks urgent_owner.dmn again changes `first_contact_owner` for the whole case;
    the owner's open tasks go with it. Only a change of the named person moves a task: one a
    supervisor released to the queue stays there while the data names the same owner.
    """
    if not meta.assignee_field:
        return
    named = task.data.get(meta.assignee_field)
    snapshot = row.data if isinstance(row.data, dict) else {}
    if named == snapshot.get(meta.assignee_field):
        return
    owner = _assignee(meta, task, directory)
    if owner is not None:
        row.assignee = owner
    row.data = {**snapshot, meta.assignee_field: named}


def _due(runtime: CaseRuntime, meta, task) -> datetime | None:
    """When the task is due: the time its `dueField` names, else the earliest timer on its boundary.

    The modeler's `dueField` is the declared deadline; a boundary timer is only an inferred one, and
    may be an earlier reminder (the service investigation's interim-reply timer fires before the
    reply deadline the investigation is due by).
    """
    return _due_from_data(meta, task) or runtime.deadline_of(task)


def open_task_rows(session: Session, case_ids: list[str]) -> dict[str, list[HumanTask]]:
    """The open task rows of the given cases, by case id, in one query."""
    rows: dict[str, list[HumanTask]] = {case_id: [] for case_id in case_ids}
    for row in session.execute(open_tasks_of_cases(case_ids)).scalars():
        rows[row.case_id].append(row)
    return rows


def _sync_tasks(
    session: Session,
    case: Case,
    runtime: CaseRuntime,
    actor,
    now: datetime,
    directory: Directory | None,
    rows: list[HumanTask] | None,
) -> list[HumanTask]:
    if rows is None:
        rows = open_task_rows(session, [case.id])[case.id]
    # Rows the current act already closed (status changed in memory, not yet flushed) are skipped.
    open_rows = {row.id: row for row in rows if row.status == "open"}
    rank = 0 if case.priority == "urgent" else 1
    ready = runtime.ready_user_tasks()
    ready_ids = set()
    still_open: list[HumanTask] = []
    for task in ready:
        task_id = str(task.id)
        ready_ids.add(task_id)
        row = open_rows.get(task_id)
        meta = runtime.definition.meta(task.task_spec)
        if row is not None:
            row.priority_rank = rank
            # A case reclassified while open (`case_update`) moves its deadlines; the inbox follows.
            row.due_at = _due(runtime, meta, task) or row.due_at
            _follow_new_owner(row, meta, task, directory)
            still_open.append(row)
            continue
        applicant = task.data.get(meta.applicant_field) if meta.approval_level else None
        row = new_row(
            HumanTask,
            id=task_id,
            case_id=case.id,
            process_key=case.process_key,
            element_id=meta.element_id,
            name=meta.name,
            lane=meta.lane,
            candidate_group=meta.candidate_group,
            assignee=_assignee(meta, task, directory),
            status="open",
            priority_rank=rank,
            created_at=now,
            due_at=_due(runtime, meta, task),
            form_file=meta.form_file,
            ui_form_file=meta.ui_form_file,
            approval_level=meta.approval_level,
            applicant=_text(applicant),
            data=json_safe(task.data),
        )
        session.add(row)
        still_open.append(row)
        add_event(
            session,
            case.id,
            now,
            actor,
            "task_created",
            task_id,
            {
                "element_id": meta.element_id,
                "name": meta.name,
                "candidate_group": meta.candidate_group,
            },
        )
    for task_id, row in open_rows.items():
        if task_id not in ready_ids:
            row.status = "cancelled"
            row.completed_at = now
            add_event(
                session,
                case.id,
                now,
                actor,
                "task_cancelled",
                task_id,
                {"element_id": row.element_id},
            )
    still_open.sort(key=lambda r: (r.created_at, r.id))
    return still_open
