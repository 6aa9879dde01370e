"""Named queries over the case and inbox tables, written once: a case by id, the open tasks of
cases, and the tasks an actor may see in an open inbox (held by them, or unclaimed and offered to
one of their groups).

Services, projection and the sign-off listing ask the same questions; a change to what "open" or
"offered" means is made here and nowhere else. The two every read of a case asks (the case, its
open tasks) run as prepared statements (`engine.store.prepared`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import Session

from .models import Case, HumanTask
from .prepared import Prepared, fetch_all, loaded
from .row_writes import write_case_and_task_rows


def open_tasks_of_cases(case_ids: Collection[str]) -> Select[HumanTask]:
    """The open task rows of these cases (in no particular order)."""
    return select(HumanTask).where(HumanTask.case_id.in_(case_ids), HumanTask.status == "open")


# A case for reading: every column but the workflow state, which no view reads (on a case reopened
# twenty times it is some 100 KB, read and sent on every view for nothing).
_CASE_BY_ID = Prepared(
    select(*(column for column in Case.__table__.c if column.key != "state")).where(
        Case.id == bindparam("case_id")
    )
)
# A case's open tasks as its view lists them: without the copy of the case data each task row keeps
# (a view of the case shows the case's own data; a single task's view reads its row whole).
_OPEN_TASKS_OF_CASE = Prepared(
    select(*(column for column in HumanTask.__table__.c if column.key != "data"))
    .where(HumanTask.case_id == bindparam("case_id"), HumanTask.status == "open")
    .order_by(HumanTask.created_at, HumanTask.id)
)


def case_by_id(session: Session, case_id: str) -> Case | None:
    """The case row, for reading (the instance is in no session: nothing written through it), without
    its workflow state: an act reads the case with `UnitOfWork.lock_case` instead."""
    write_case_and_task_rows(session)  # an act's own changes first, as the ORM's autoflush would
    found = _CASE_BY_ID.rows(session.connection(), {"case_id": case_id})
    return loaded(Case, found[0]) if found else None


def case_with_open_tasks(session: Session, case_id: str) -> tuple[Case | None, list[HumanTask]]:
    """A case and its open tasks, oldest first, for reading (without the case's workflow state and
    the tasks' data): one round trip on PostgreSQL."""
    write_case_and_task_rows(session)
    params = {"case_id": case_id}
    cases, tasks = fetch_all(session.connection(), [(_CASE_BY_ID, params), (_OPEN_TASKS_OF_CASE, params)])
    if not cases:
        return None, []
    return loaded(Case, cases[0]), [loaded(HumanTask, row) for row in tasks]


def open_tasks_of_case(session: Session, case_id: str) -> list[HumanTask]:
    """One case's open tasks, oldest first, for reading (as `case_by_id`), without their data."""
    write_case_and_task_rows(session)
    return [
        loaded(HumanTask, row) for row in _OPEN_TASKS_OF_CASE.rows(session.connection(), {"case_id": case_id})
    ]


def unclaimed_for(groups: Any) -> ColumnElement[bool]:
    """A task nobody holds, offered to one of `groups` (a list, or an expanding bind parameter)."""
    return HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups)


def in_inbox_of(username: Any, groups: Any) -> ColumnElement[bool]:
    """A task the actor may see in an open inbox: theirs, or unclaimed and offered to their groups
    (a task a colleague holds is the colleague's, not the group's). Values or bind parameters."""
    return (HumanTask.assignee == username) | unclaimed_for(groups)
