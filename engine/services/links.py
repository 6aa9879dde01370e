"""Links between related cases, and how a case view shows them.

A link is stored once, from the case that found the relation (`case_id`) to the related case
(`linked_case_id`), with a kind:
- `repeat_of`: a repeat complaint points at the earlier complaint it repeats; the view of the
  earlier one shows the later as `repeated_by`;
- `batch`: every member of a batch points at the batch's first complaint (its anchor), so a batch
  of n cases is n - 1 rows; the view of any member lists every other member as `batch`;
- `coordinates`: the case that coordinates a batch (process `batch_incident`) points at the
  anchor; it lists every member as `coordinates`, and every member lists it as `coordinated_by`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..store.models import Case, CaseLink

# How a link reads from the other end.
INVERSE_KIND = {"repeat_of": "repeated_by"}
BATCH = "batch"
COORDINATES = "coordinates"


def add_link(session: Session, case_id: str, linked_case_id: str, kind: str, at: datetime) -> None:
    """Record that `case_id` relates to `linked_case_id` (in the caller's transaction)."""
    session.add(CaseLink(case_id=case_id, linked_case_id=linked_case_id, kind=kind, at=at))
    # A flag, not a change of the case: a stored case is marked without the revision check
    # (`Case.revision` guards acts on a case, and linking another case to it is not one), its
    # in-memory copy too; a case not yet inserted carries the flag in. No autoflush: the link row
    # must not be flushed before the new case it names.
    with session.no_autoflush:
        for end in (case_id, linked_case_id):
            pending = next((c for c in session.new if isinstance(c, Case) and c.id == end), None)
            if pending is not None:
                pending.linked = True
                continue
            session.execute(
                update(Case)
                .where(Case.id == end, Case.linked.is_(False))
                .values(linked=True)
                .execution_options(synchronize_session="evaluate")
            )


def batch_anchor(session: Session, case_id: str) -> str | None:
    """The first complaint of the batch this case belongs to (itself when it is the anchor)."""
    anchor = session.execute(
        select(CaseLink.linked_case_id).where(CaseLink.case_id == case_id, CaseLink.kind == BATCH).limit(1)
    ).scalar()
    if anchor is not None:
        return anchor
    member = session.execute(
        select(CaseLink.id).where(CaseLink.linked_case_id == case_id, CaseLink.kind == BATCH).limit(1)
    ).scalar()
    return case_id if member is not None else None


def batch_members(session: Session, anchor: str) -> list[str]:
    """Every case of the batch anchored at `anchor`, the anchor first, then in the order they joined."""
    joined = session.execute(
        select(CaseLink.case_id)
        .where(CaseLink.linked_case_id == anchor, CaseLink.kind == BATCH)
        .order_by(CaseLink.id)
    ).scalars()
    return [anchor, *joined]


def coordinators_of(session: Session, anchor: str) -> list[str]:
    """The cases coordinating the batch anchored at `anchor` (one, unless process owners changed it)."""
    return list(
        session.execute(
            select(CaseLink.case_id)
            .where(CaseLink.linked_case_id == anchor, CaseLink.kind == COORDINATES)
            .order_by(CaseLink.id)
        ).scalars()
    )


def links_of(session: Session, case_id: str) -> list[dict]:
    """`[{"case_id", "business_key", "kind"}]` of every case linked to this one.

    The case view reads them only for a case marked `linked` (see `add_link`).
    """
    rows = list(
        session.execute(
            select(CaseLink)
            .where(or_(CaseLink.case_id == case_id, CaseLink.linked_case_id == case_id))
            .order_by(CaseLink.id)
        ).scalars()
    )
    if not rows:
        return []
    found = []
    for row in rows:
        if row.kind in (BATCH, COORDINATES):
            continue
        if row.case_id == case_id:
            found.append((row.linked_case_id, row.kind))
        else:
            found.append((row.case_id, INVERSE_KIND.get(row.kind, row.kind)))
    anchor = batch_anchor(session, case_id)
    if anchor is not None:
        found.extend((member, BATCH) for member in batch_members(session, anchor) if member != case_id)
        found.extend((coordinator, "coordinated_by") for coordinator in coordinators_of(session, anchor))
    coordinated = session.execute(
        select(CaseLink.linked_case_id).where(CaseLink.case_id == case_id, CaseLink.kind == COORDINATES)
    ).scalars()
    for coordinated_anchor in coordinated:
        found.extend((member, COORDINATES) for member in batch_members(session, coordinated_anchor))
    if not found:
        return []
    keys = dict(
        session.execute(select(Case.id, Case.business_key).where(Case.id.in_({c for c, _ in found}))).all()
    )
    return [{"case_id": other, "business_key": keys.get(other), "kind": kind} for other, kind in found]
