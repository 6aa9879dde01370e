"""Write an act's case and task rows with a few prebuilt statements instead of the ORM's flush.

Every act changes one case row and a handful of task rows. The ORM's unit of work would work out,
object by object and attribute by attribute, what to write and in which order; for these two
tables the answer is always the same: the case (all its columns, with the revision checked and
bumped), then new task rows in one multi-row INSERT, then the changed task rows in one UPDATE per
shape of change. `write_case_and_task_rows` runs at commit and at the start of every flush
(autoflush included), before the ORM writes every other table (approvals, escalations, links
...), and leaves the objects as if freshly loaded, so the ORM sees nothing left to write for them.
It writes every column of the case, changed or not: the ORM would compare each value with the one
it loaded, and so miss a change made inside a loaded value.

The compare-and-swap guard is the same as the ORM's `version_id_col`: an UPDATE of a case whose
revision moved since it was read matches no row and raises `StaleDataError`.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, insert, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .models import Case, HumanTask
from .pg_transactions import case_revision_moved, commit_may_ride
from .prepared import Prepared, Step, execute_all

_CASES = cast(Table, Case.__table__)
_TASKS = cast(Table, HumanTask.__table__)
_CASE_COLUMNS = tuple(column.name for column in _CASES.c)
_CASE_VALUES = tuple(name for name in _CASE_COLUMNS if name not in ("id", "revision"))
# Built once: bound names of the WHERE clause differ from the columns the SET clause takes.
_UPDATE_CASE = Prepared(
    update(_CASES)
    .where(_CASES.c.id == bindparam("where_id"), _CASES.c.revision == bindparam("where_revision"))
    .values({name: bindparam(name) for name in (*_CASE_VALUES, "revision")})
)
_INSERT_CASE = Prepared(insert(_CASES))
_INSERT_TASKS = Prepared(insert(_TASKS))
_WRITTEN = (Case, HumanTask)


def _defaults(table: Table) -> dict[str, Any]:
    """Each column's Python-side default (what the ORM would have inserted for a missing value)."""
    values: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        if default is None or not hasattr(default, "arg"):
            values[column.name] = None
        elif getattr(default, "is_callable", False):
            values[column.name] = default.arg(None)  # SQLAlchemy keeps fn as fn(context)
        else:
            values[column.name] = default.arg
    return values


_CASE_DEFAULTS = {**_defaults(_CASES), "revision": 1}
_TASK_DEFAULTS = _defaults(_TASKS)
_TASK_COLUMNS = tuple(column.name for column in _TASKS.c)


@event.listens_for(Session, "before_flush")
def _write_before_flush(session: Session, _context: Any, _objects: Any) -> None:
    """Any flush (an explicit one, or the autoflush before an ORM query mid-act) writes the case
    and task rows here first, so the ORM's own flush finds nothing left to do for them."""
    write_case_and_task_rows(session)


def write_case_and_task_rows(session: Session, *then: Step, last: bool = False) -> bool:
    """Write the new and changed Case and HumanTask objects of `session`, then the statements
    `then` (an act's events), in one batch (one round trip on PostgreSQL); mark the objects clean.

    `last`: the act's final batch, at commit; on PostgreSQL it ends with the `COMMIT` itself when
    `pg_transactions.commit_may_ride` allows. Returns whether it did.
    """
    pending = list(session.new)
    changed = list(session.dirty)
    new = [obj for obj in pending if isinstance(obj, _WRITTEN)]
    dirty = [obj for obj in changed if isinstance(obj, _WRITTEN)]
    if not new and not dirty and not then:
        return False
    steps: list[Step] = []
    new_cases = [obj for obj in new if isinstance(obj, Case)]
    if new_cases:
        steps.append((_INSERT_CASE, [_filled(case, _CASE_COLUMNS, _CASE_DEFAULTS) for case in new_cases]))
    updated_cases = [obj for obj in dirty if isinstance(obj, Case)]
    revisions = [_case_update(case) for case in updated_cases]
    steps.extend((_UPDATE_CASE, params) for params in revisions)
    new_tasks = [obj for obj in new if isinstance(obj, HumanTask)]
    if new_tasks:
        steps.append((_INSERT_TASKS, [_filled(row, _TASK_COLUMNS, _TASK_DEFAULTS) for row in new_tasks]))
    steps.extend(_task_updates([obj for obj in dirty if isinstance(obj, HumanTask)]))
    steps.extend(then)
    commit = last and commit_may_ride(
        session,
        revisions,
        nothing_else_to_write=len(new) == len(pending) and len(dirty) == len(changed) and not session.deleted,
    )
    counts = execute_all(session.connection(), steps, commit=commit)
    first_update = 1 if new_cases else 0
    for case, params, count in zip(updated_cases, revisions, counts[first_update:], strict=False):
        if count != 1:
            raise StaleDataError(
                f"case {case.id} was changed by another act (revision {params['where_revision']})"
            )
        case.revision = params["revision"]
        case_revision_moved(session, case.id, case.revision)
    if new:
        _mark_persistent(session, new)
    for obj in dirty:
        _mark_clean(session, obj)
    return commit


def _filled(obj: Any, columns: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    """A new object's row: every column, defaults where nothing was set (set on the object too,
    so reading it later needs no query)."""
    state = inspect(obj).dict
    row = {}
    for name in columns:
        if name not in state:
            default = defaults[name]
            setattr(obj, name, copy.copy(default))  # a fresh list or dict for each row
        row[name] = state[name]
    return row


def _case_update(case: Case) -> dict[str, Any]:
    """The UPDATE's parameters: every column, if the revision is still the one read."""
    revision = inspect(case).committed_state.get("revision", case.revision)
    params = {name: getattr(case, name) for name in _CASE_VALUES}
    params.update(where_id=case.id, where_revision=revision, revision=revision + 1)
    return params


def _task_updates(rows: list[HumanTask]) -> list[Step]:
    """The changed columns of each task row: one executemany per set of changed columns."""
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        changed = tuple(sorted(inspect(row).committed_state))
        if changed:
            values = {name: getattr(row, name) for name in changed}
            by_shape[changed].append({"where_id": row.id, **values})
    return [(_task_update(shape), params) for shape, params in by_shape.items()]


_TASK_UPDATES: dict[tuple[str, ...], Prepared] = {}


def _task_update(shape: tuple[str, ...]) -> Prepared:
    """The UPDATE of these task columns by id, built once per shape."""
    statement = _TASK_UPDATES.get(shape)
    if statement is None:
        statement = Prepared(
            update(_TASKS)
            .where(_TASKS.c.id == bindparam("where_id"))
            .values({name: bindparam(name) for name in shape})
        )
        _TASK_UPDATES[shape] = statement
    return statement


def _mark_persistent(session: Session, objects: list[Any]) -> None:
    """New objects just inserted: persistent in the session, as the ORM's flush leaves them.

    `Session._register_persistent` is what the flush itself calls for them: their identity key,
    the identity map, their values as loaded, and, should the transaction roll back, their
    removal from the session (as for any object inserted in it). The public route (expunge, make
    transient to detached, add again) cost three times as much, and a rollback then left them in
    the session as if their rows existed.
    """
    session._register_persistent({inspect(obj) for obj in objects})


def _mark_clean(session: Session, obj: Any) -> None:
    """A changed object just written: its current values become its loaded ones.

    What the ORM itself does to an object after flushing it (`InstanceState._commit_all`); the
    public route (make it transient, then detached, then add it again) costs four times as much.
    """
    state = inspect(obj)
    state._commit_all(state.dict, session.identity_map)
