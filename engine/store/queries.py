"""Named queries over the inbox table, written once: the open tasks of cases, and the tasks an
actor may see in an open inbox (held by them, or unclaimed and offered to one of their groups).

Services, projection and the sign-off listing ask the same questions; a change to what "open" or
"offered" means is made here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select

from .models import HumanTask


def open_tasks_of_cases(case_ids: Collection[str]) -> Select[HumanTask]:
    """The open task rows of these cases (in no particular order)."""
    return select(HumanTask).where(HumanTask.case_id.in_(case_ids), HumanTask.status == "open")


# Built once (statements are compiled once per shape): one case's open tasks, oldest first,
# with its id bound as `case_id`.
OPEN_TASKS_OF_CASE = (
    select(HumanTask)
    .where(HumanTask.case_id == bindparam("case_id"), HumanTask.status == "open")
    .order_by(HumanTask.created_at, HumanTask.id)
)


def unclaimed_for(groups: Any) -> ColumnElement[bool]:
    """A task nobody holds, offered to one of `groups` (a list, or an expanding bind parameter)."""
    return HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups)


def in_inbox_of(username: Any, groups: Any) -> ColumnElement[bool]:
    """A task the actor may see in an open inbox: theirs, or unclaimed and offered to their groups
    (a task a colleague holds is the colleague's, not the group's). Values or bind parameters."""
    return (HumanTask.assignee == username) | unclaimed_for(groups)
