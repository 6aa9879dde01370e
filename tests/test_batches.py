"""Batches handled as one incident (DOMAIN.md §2), driven through the real complaint process.

When the eleventh complaint of an issue code within an hour arrives, every open complaint of that
issue in the hour turns urgent at once, with its deadlines recomputed, and all are linked; each
keeps its own tasks and reply. The clock is moved with time-machine. On PostgreSQL, 50
simultaneous starts of one issue count exactly and end as one batch.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine

from .flows import register
from .support import auth, race, start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


def complaint(customer: str, issue: str = "EB600-FORK", **changes) -> dict:
    return start_data(customer={"id": customer}, problem={"issue_code": issue}, **changes)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def batch_links(case: dict) -> set[str]:
    return {link["case_id"] for link in case["links"] if link["kind"] == "batch"}


def coordinators(api) -> list[dict]:
    listed = api.get("/api/v1/cases?process=batch_incident", "sun.li").get_json()["items"]
    return [api.case(item["id"]) for item in listed]


def coordinated_by(case: dict) -> list[str]:
    return [link["case_id"] for link in case["links"] if link["kind"] == "coordinated_by"]


def test_when_a_batch_forms_every_open_complaint_of_the_hour_turns_urgent_with_new_deadlines(api):
    with at(NINE - timedelta(minutes=40)):
        too_early = api.start(complaint("early"), user="callcentre")  # outside the hour at 09:30
    with at(NINE):
        earlier = [api.start(complaint(f"C-{i}"), user="callcentre") for i in range(8)]
        cancelled = api.start(complaint("C-cancel"), user="callcentre")
        other_issue = api.start(complaint("C-other", issue="EB600-SEAT"), user="callcentre")
    api.post(f"/api/v1/cases/{cancelled['id']}/cancel", "sun.li", json={"reason": "重复登记"})
    with at(NINE + timedelta(minutes=10)):
        acknowledged = register(api, earlier[0], user="li.na")  # already at the repair
    for case in earlier:
        assert case["priority"] == "ordinary"
        assert case["timers"][0]["due_at"] == "2026-11-21T09:00:00+08:00"

    with at(NINE + timedelta(minutes=30)):
        tenth = api.start(complaint("C-9"), user="callcentre")
        assert tenth["data"]["facts"]["batch_ordinary_complaints"] == 10  # with the cancelled one
        assert "batch" not in tenth["data"]["urgent_kinds"]
        eleventh = api.start(complaint("C-10"), user="callcentre")
    assert eleventh["data"]["urgent_kinds"] == ["batch"] and eleventh["priority"] == "urgent"

    members = [*earlier, tenth]
    expected_links = {c["id"] for c in members} | {eleventh["id"]}
    assert batch_links(eleventh) == expected_links - {eleventh["id"]}
    for before in members:
        after = api.case(before["id"])
        assert after["priority"] == "urgent", before["business_key"]
        assert after["data"]["urgent_kinds"] == ["batch"]
        # Deadlines count from each complaint's own receipt: urgent is 2 h to acknowledge, 24 h to reply.
        received = datetime.fromisoformat(after["data"]["received_at"])
        assert after["data"]["ack_due"] == (received + timedelta(hours=2)).isoformat()
        assert after["data"]["reply_due"] == (received + timedelta(hours=24)).isoformat()
        assert batch_links(after) == expected_links - {before["id"]}
        reclassified = [e for e in api.events(before["id"]) if e["type"] == "case_reclassified"]
        assert len(reclassified) == 1 and reclassified[0]["detail"]["batch_case_id"] == eleventh["id"]
        # Each customer keeps their own case: their own open task, with its own deadline.
        if before["id"] != acknowledged["id"]:
            task = api.open_task(after, "register_complaint")
            assert task["due_at"] == (received + timedelta(hours=2)).isoformat()
            assert {t["name"]: t["due_at"] for t in after["timers"]}["回应超时 Acknowledgement overdue"] == (
                received + timedelta(hours=2)
            ).isoformat()
    reply_clock = {t["name"]: t["due_at"] for t in api.case(acknowledged["id"])["timers"]}
    assert reply_clock["答复超时 Reply deadline passed"] == "2026-11-21T09:00:00+08:00"

    # One coordinating task for the after-sales leads, on a case linked to every member.
    [coordinator] = coordinators(api)
    assert coordinator["data"]["batch"]["issue_code"] == "EB600-FORK"
    [task] = coordinator["tasks"]
    assert task["element_id"] == "coordinate_batch" and task["candidate_group"] == "after_sales_leads"
    assert task["assignee"] is None
    assert {
        link["case_id"] for link in coordinator["links"] if link["kind"] == "coordinates"
    } == expected_links
    for member in [*members, eleventh]:
        assert coordinated_by(api.case(member["id"])) == [coordinator["id"]]

    # Closed, other-issue and out-of-window complaints are left as they were.
    for untouched in (too_early, cancelled, other_issue):
        view = api.case(untouched["id"])
        assert view["priority"] == "ordinary" and view["links"] == []
        assert "case_reclassified" not in api.event_types(untouched["id"])

    # A twelfth joins the same batch; nobody is reclassified twice.
    with at(NINE + timedelta(minutes=35)):
        twelfth = api.start(complaint("C-11"), user="callcentre")
    assert batch_links(twelfth) == expected_links
    assert batch_links(api.case(earlier[3]["id"])) == (expected_links | {twelfth["id"]}) - {earlier[3]["id"]}
    assert api.event_types(earlier[3]["id"]).count("case_reclassified") == 1
    [coordinator] = coordinators(api)
    assert (
        len([link for link in coordinator["links"] if link["kind"] == "coordinates"])
        == len(expected_links) + 1
    )
    done = api.complete(
        coordinator,
        "coordinate_batch",
        "zhao.min",
        {"common_cause": "前叉焊点批次缺陷", "common_remedy": "免费更换前叉"},
    )
    assert done["status"] == "completed"


def test_the_recomputed_acknowledgement_clock_fires_at_its_new_time(api, engine):
    with time_machine.travel(NINE, tick=False) as clock:
        first = api.start(complaint("C-0", issue="EB700"), user="callcentre")
        clock.shift(timedelta(minutes=20))
        for i in range(1, 11):
            api.start(complaint(f"C-{i}", issue="EB700"), user="callcentre")
        assert api.case(first["id"])["priority"] == "urgent"
        # Urgent: acknowledge within 2 h of receipt (09:00), no longer 24 h.
        clock.shift(timedelta(hours=1, minutes=40) - timedelta(seconds=1))
        engine.timers.fire_due()
        assert api.case(first["id"])["escalations"] == []
        clock.shift(timedelta(seconds=2))
        engine.timers.fire_due()
        after = api.case(first["id"])
        assert [e["clock"] for e in after["escalations"]] == ["acknowledge"]
        assert "chase_acknowledgement" in api.open_elements(after)


@pytest.fixture
def postgresql_only(backend):
    if backend["name"] != "postgresql":
        pytest.skip("the simultaneous-start test is about PostgreSQL's concurrency")


STARTS = 50


def test_fifty_simultaneous_starts_of_one_issue_count_exactly_and_end_as_one_batch(
    postgresql_only, live_server, api
):
    url = f"{live_server}/api/v1/cases"

    def start(index: int):
        # The integration's own business keys: no shared counter row orders the starts.
        body = {
            "process": "complaint",
            "business_key": f"CRM-{index:04d}",
            "data": complaint(f"P-{index}", issue="EB900-BATTERY"),
        }
        return lambda: requests.post(url, json=body, headers=auth("callcentre"), timeout=120)

    responses = race([start(i) for i in range(STARTS)])
    assert Counter(r.status_code for r in responses) == {201: STARTS}
    started = [r.json() for r in responses]
    # Counted one after another: each start saw exactly the ones before it.
    counts = sorted(c["data"]["facts"]["batch_ordinary_complaints"] for c in started)
    assert counts == list(range(1, STARTS + 1))
    assert sum("batch" in c["data"]["urgent_kinds"] for c in started) == STARTS - 10
    ids = {c["id"] for c in started}
    for case in started:
        view = api.case(case["id"])
        assert view["priority"] == "urgent" and view["data"]["urgent_kinds"] == ["batch"]
        assert batch_links(view) == ids - {case["id"]}
    reclassified = sum(api.event_types(c["id"]).count("case_reclassified") for c in started)
    assert reclassified == 10  # the ten before the batch formed, once each
    [coordinator] = coordinators(api)
    assert {link["case_id"] for link in coordinator["links"]} == ids


def test_a_member_whose_state_cannot_be_read_does_not_stop_the_new_complaint(api, engine):
    from sqlalchemy import update

    from engine.store.models import Case

    with at(NINE):
        members = [api.start(complaint(f"B-{i}", issue="EB950"), user="callcentre") for i in range(10)]
    with engine.db.unit_of_work() as uow:
        uow.session.execute(update(Case).where(Case.id == members[0]["id"]).values(state="{not json"))
    with at(NINE + timedelta(minutes=5)):
        eleventh = api.start(complaint("B-10", issue="EB950"), user="callcentre")
    assert eleventh["priority"] == "urgent"
    broken = api.case(members[0]["id"])
    assert broken["priority"] == "ordinary" and "case_reclassified" not in api.event_types(members[0]["id"])
    assert all(api.case(m["id"])["priority"] == "urgent" for m in members[1:])
