"""Contacts with the customer: the customer may call at any stage, and the owner calls back (DOMAIN.md §4).

Every contact (inbound or outbound, reached or not) is recorded in the case's audit trail
(`contact_recorded`). An inbound one (asking when the technician comes, adding information,
complaining again, a missed call) is also delivered to the case as the BPMN message
`customer_contacted`; `complaint.bpmn` catches it with a non-interrupting event subprocess that
gives the first-contact owner a task to call back, whatever else the case is waiting for.
"""

from __future__ import annotations

from typing import Any

from ..calendar import utc_now
from ..errors import Conflict
from ..identity import Actor
from ..projection import add_event, apply_act
from ..runtime import NotWaiting
from .context import EngineContext, acting, lock_case, require_groups
from .views import case_view

RECORDERS = ("agents", "integrations", "supervisors")
CONTACT_MESSAGE = "customer_contacted"


class ContactService:
    """Record a contact with the customer on a case; an inbound one starts the owner's call-back."""

    def __init__(self, ctx: EngineContext):
        self.ctx = ctx

    def record(self, actor: Actor, case_id: str, contact: dict[str, Any]) -> dict:
        """Record the contact (an inbound one starts the owner's call-back); 409 unless running."""
        require_groups(actor, *RECORDERS)
        with acting(self.ctx) as uow:
            case = lock_case(uow, case_id)
            if case.status != "running":
                raise Conflict(f"the case is {case.status}; calls are recorded on running cases")
            now = utc_now()
            record = {
                **contact,
                "recorded_at": self.ctx.local(now).isoformat(timespec="seconds"),
                "recorded_by": actor.username,
            }
            add_event(uow.session, case.id, now, actor, "contact_recorded", detail=record)
            if record.get("direction", "inbound") != "inbound":
                case.updated_at = now
                return case_view(self.ctx, uow.session, case)
            runtime = self.ctx.runtime_of(uow.session, case)
            try:
                runtime.deliver_message(CONTACT_MESSAGE, record, case_data=case.data)
            except NotWaiting:
                raise Conflict("this version of the process does not take calls from the customer") from None
            open_tasks = apply_act(uow.session, case, runtime, actor, now, self.ctx.directory)
            return case_view(self.ctx, uow.session, case, open_tasks)
