"""Links between related cases, and how a case view shows them.

A link is stored once, from the case that found the relation (`case_id`) to the related case
(`linked_case_id`), with a kind: `repeat_of` (a repeat complaint points at the earlier complaint
it repeats), `batch` (complaints of one batch). The view shows both directions: the earlier case
of a repeat lists the later one as `repeated_by`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..store.models import Case, CaseLink

# How a link reads from the other end.
INVERSE_KIND = {"repeat_of": "repeated_by", "batch": "batch"}


def add_link(session: Session, case_id: str, linked_case_id: str, kind: str, at: datetime) -> None:
    """Record that `case_id` relates to `linked_case_id` (in the caller's transaction)."""
    session.add(CaseLink(case_id=case_id, linked_case_id=linked_case_id, kind=kind, at=at))


def links_of(session: Session, case_id: str) -> list[dict]:
    """`[{"case_id", "business_key", "kind"}]` of every case linked to this one, oldest link first."""
    rows = session.execute(
        select(CaseLink)
        .where(or_(CaseLink.case_id == case_id, CaseLink.linked_case_id == case_id))
        .order_by(CaseLink.id)
    ).scalars()
    found = []
    for row in rows:
        if row.case_id == case_id:
            found.append((row.linked_case_id, row.kind))
        else:
            found.append((row.case_id, INVERSE_KIND.get(row.kind, row.kind)))
    if not found:
        return []
    keys = dict(
        session.execute(select(Case.id, Case.business_key).where(Case.id.in_({c for c, _ in found}))).all()
    )
    return [{"case_id": other, "business_key": keys.get(other), "kind": kind} for other, kind in found]
