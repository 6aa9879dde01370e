"""A message one case receives changes nothing for the other cases of its version
(`engine.definitions.shared_specs`).

Every case of a deployed version runs on the one spec a node keeps for it. SpiffWorkflow changed
that spec the first time a message started an event subprocess (an upgrade, a customer's call):
every case started on that node afterwards began with the event subprocess waiting, and, the
process's end waiting for every unfinished task, none of them could complete.
"""

from __future__ import annotations

from typing import Any

from engine.store.models import Case

from .flows import register, repair, reply, upgrade, visit
from .support import ServiceClient, start_data


def _call(api: ServiceClient, case: dict) -> dict:
    response = api.post(f"/api/v1/cases/{case['id']}/contacts", "li.na", json={"note": "客户来电询问进度"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _new_case(api: ServiceClient, n: int) -> dict:
    return api.start(start_data(customer={"id": f"C-SHARED-{n}"}, problem={"issue_code": f"SHARED-{n}"}))


def _how_it_starts(api: ServiceClient, case: dict) -> dict[str, Any]:
    drawn = api.get(f"/api/v1/cases/{case['id']}/diagram", "sun.li").get_json()["diagrams"]
    return {
        "tasks": api.open_elements(api.case(case["id"])),
        "active": {d["process"]: sorted(d["active"]) for d in drawn},
    }


def _to_the_end(api: ServiceClient, case: dict) -> str:
    case = visit(api, reply(api, repair(api, register(api, case))), satisfied=True)
    return api.case(case["id"])["status"]


def test_cases_started_after_another_case_took_a_message_start_and_end_as_before(api):
    before = _new_case(api, 1)
    started_before = _how_it_starts(api, before)
    assert _to_the_end(api, before) == "completed"

    # One case is upgraded, another takes a customer's call: both messages start event subprocesses.
    upgraded = upgrade(api, repair(api, register(api, _new_case(api, 2))))
    assert upgraded["priority"] == "urgent"
    called = _call(api, _new_case(api, 3))
    assert "return_contact_call" in api.open_elements(called)

    after = _new_case(api, 4)
    assert _how_it_starts(api, after) == started_before
    assert _to_the_end(api, after) == "completed"
    # The cases that took the messages still finish too.
    assert api.case(visit(api, reply(api, upgraded), satisfied=True)["id"])["status"] == "completed"


def test_the_version_s_spec_stays_as_loaded_whatever_its_cases_receive(api, engine):
    case = _new_case(api, 1)
    with engine.db.unit_of_work(write=False) as uow:
        spec = engine.ctx.definition_of(uow.session, uow.session.get_one(Case, case["id"])).spec

    def links() -> dict[str, tuple[list[str], list[str]]]:
        return {
            name: (sorted(t.name for t in task.inputs), sorted(t.name for t in task.outputs))
            for name, task in spec.task_specs.items()
        }

    loaded = links()
    upgrade(api, repair(api, register(api, case)))
    _call(api, _new_case(api, 2))
    assert links() == loaded
