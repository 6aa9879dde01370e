"""Batches (批量) handled as one incident (DOMAIN.md §2).

Why here: a batch is found when a complaint starts (its classification says `batch`), but it
changes other cases: every open complaint with the same issue code received within the batch
window becomes urgent at once, its receipt-based deadlines recomputed from the deadline table of
its own version (`sla_deadlines`, priority `urgent`), and all of them are linked (`batch`) to each
other. Each customer keeps their own case and their own reply.

Counting is exact under concurrency: every start takes a lock per process and issue code
(`lock_issue`) before it counts, so simultaneous starts of one issue count one after another.
"""

from __future__ import annotations

import copy
import logging
import uuid
import zlib
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..definitions.decisions import evaluate, load_decisions
from ..facts import BATCH_WINDOW
from ..identity import SYSTEM
from ..projection import add_event, apply_act, record_start
from ..runtime import CaseRuntime, timer_definitions
from ..script_helpers import make_helpers
from ..store.models import Case, HumanTask
from .context import EngineContext
from .links import BATCH, COORDINATES, add_link, batch_anchor, batch_members, coordinators_of

log = logging.getLogger(__name__)

# The process that gives the after-sales leads one coordinating task per batch.
COORDINATION_PROCESS = "batch_incident"
DEADLINE_DECISION = "sla_deadlines"
# Deadlines counted from receipt (DOMAIN.md §3): field → the table's output of hours.
RECEIPT_DEADLINES = {"ack_due": "ack_hours", "reply_due": "reply_hours"}
# Key space of the advisory locks taken here (any constant; see `lock_issue`).
_LOCK_SPACE = 7_302


def lock_issue(session: Session, process_key: str, issue_code: str | None) -> None:
    """Serialize the starts of one process and issue code until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on the pair (other issue codes run in
    parallel). SQLite: a write transaction already holds the database's only write lock.
    """
    if not issue_code or session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(f"{process_key}\x1f{issue_code}".encode()) - 2**31
    session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, key)))


def form_batch(ctx: EngineContext, session: Session, case: Case, now: datetime) -> list[str]:
    """Join a batch case and every open complaint of its issue code in the window into one batch
    (linked to its first complaint), and make those urgent; returns the ids of the cases made
    urgent. Runs in the start's transaction, under `lock_issue`."""
    members = list(
        session.execute(
            select(Case)
            .where(
                Case.process_key == case.process_key,
                Case.issue_code == case.issue_code,
                Case.status == "running",
                Case.created_at > now - BATCH_WINDOW,
                Case.id != case.id,
            )
            .order_by(Case.created_at, Case.id)
        ).scalars()
    )
    anchor = next(
        (found for found in (batch_anchor(session, m.id) for m in members) if found is not None),
        members[0].id if members else None,
    )
    if anchor is None:
        return []  # no other open complaint of the batch: nothing to link or to change
    in_batch = set(batch_members(session, anchor))
    if not coordinators_of(session, anchor):
        start_coordination(ctx, session, anchor, case, now)
    for joining in [*members, case]:
        if joining.id != anchor and joining.id not in in_batch:
            add_link(session, joining.id, anchor, BATCH, now)
            in_batch.add(joining.id)
    promoted = []
    decisions: dict[int, dict] = {}
    for member in members:
        if "batch" in ((member.data or {}).get("urgent_kinds") or []):
            continue
        # Only a case about to change is locked (and read again under the lock).
        member = session.execute(
            select(Case)
            .where(Case.id == member.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        if member.status != "running" or "batch" in ((member.data or {}).get("urgent_kinds") or []):
            continue
        try:
            # A member that cannot be changed (its state unreadable) must not stop a new
            # complaint from being recorded: its changes roll back alone and it stays as it was.
            with session.begin_nested():
                make_urgent(ctx, session, member, case, now, decisions)
        except Exception:
            log.exception(
                "case %s could not be made urgent for the batch of %s", member.id, case.business_key
            )
            continue
        promoted.append(member.id)
    return promoted


def start_coordination(
    ctx: EngineContext, session: Session, anchor: str, batch_case: Case, now: datetime
) -> None:
    """Start the case that coordinates a newly formed batch (its task goes to the after-sales
    leads), linked to the batch; nothing when no `batch_incident` process is deployed."""
    from .cases import CaseService  # cases starts batches; imported here to avoid a cycle

    row = ctx.definitions.latest(session, COORDINATION_PROCESS)
    if row is None:
        log.warning(
            "a batch formed for %s but no %s process is deployed", batch_case.issue_code, COORDINATION_PROCESS
        )
        return
    definition = ctx.definitions.load(row)
    case_id = str(uuid.uuid4())
    business_key = CaseService(ctx)._next_business_key(session, now)
    data = {
        "case_id": case_id,
        "business_key": business_key,
        "received_at": ctx.local(now).isoformat(timespec="seconds"),
        "batch": {
            "process": batch_case.process_key,
            "issue_code": batch_case.issue_code,
            "formed_by": batch_case.business_key,
        },
    }
    runtime = CaseRuntime.start(definition, ctx.script_engine, data)
    coordinator = record_start(
        session,
        case_id=case_id,
        process_key=COORDINATION_PROCESS,
        definition_id=row.id,
        version=row.version,
        business_key=business_key,
        actor=SYSTEM,
        now=now,
        data=data,
    )
    add_link(session, case_id, anchor, COORDINATES, now)
    apply_act(session, coordinator, runtime, SYSTEM, now, ctx.directory)


def make_urgent(
    ctx: EngineContext,
    session: Session,
    member: Case,
    batch_case: Case,
    now: datetime,
    decisions_by_definition: dict[int, dict] | None = None,
) -> None:
    """Turn one open complaint urgent as a member of a batch, deadlines recomputed."""
    definition = ctx.definition_of(session, member)
    data = member.data or {}
    changes: dict = {
        "urgent_kinds": [*(data.get("urgent_kinds") or []), "batch"],
        "priority": "urgent",
    }
    cache = decisions_by_definition if decisions_by_definition is not None else {}
    decisions = cache.get(member.definition_id)
    if decisions is None:
        dmn_files = {name: text for name, text in definition.files.items() if name.endswith(".dmn")}
        decisions = cache[member.definition_id] = load_decisions(dmn_files) if dmn_files else {}
    if DEADLINE_DECISION in decisions:
        result = evaluate(decisions[DEADLINE_DECISION], {**data, **changes}, ctx.script_engine)["result"]
        changes.update(result)
        helpers = make_helpers(ctx.calendar)
        received_at = data.get("received_at")
        for field, hours_field in RECEIPT_DEADLINES.items():
            hours = result.get(hours_field)
            if received_at and isinstance(hours, int | float) and field in data:
                changes[field] = helpers["add_hours"](received_at, hours)

    runtime = ctx.runtime_of(session, member)
    changed_fields = set(changes)
    # Every task, finished ones included: a waiting event takes its data from its (finished)
    # parent again each time it is refreshed.
    for task in runtime.workflow.get_tasks():
        task.data.update(copy.deepcopy(changes))
        # A clock waiting on a field that changed reads it again (a TimeDate timer keeps the
        # value it read first); one already past fires now.
        for definition_ in timer_definitions(task):
            if (
                isinstance(definition_, TimeDateEventDefinition)
                and definition_.expression.strip() in changed_fields
            ):
                task._set_internal_data(event_value=None)
    member.data = {**data, **copy.deepcopy(changes)}
    add_event(
        session,
        member.id,
        now,
        SYSTEM,
        "case_reclassified",
        detail={
            "kind": "batch",
            "batch_case_id": batch_case.id,
            "business_key": batch_case.business_key,
            "priority": "urgent",
            **{field: changes[field] for field in RECEIPT_DEADLINES if field in changes},
        },
    )
    runtime.fire_timers()
    open_rows = apply_act(session, member, runtime, SYSTEM, now, ctx.directory)
    _refresh_due_times(runtime, open_rows)


def _refresh_due_times(runtime, rows: list[HumanTask]) -> None:
    """Open tasks' due times follow the recomputed clocks on their boundaries."""
    for row in rows:
        task = runtime.ready_user_task(row.id)
        if task is not None:
            due = runtime.deadline_of(task)
            if due is not None:
                row.due_at = due
