"""No lost update, whatever the interleaving: races over real HTTP against a live server."""

from __future__ import annotations

from collections import Counter

import requests

from .support import auth, race, start_data

RACERS = 20


def test_racing_to_complete_one_task_one_wins_the_rest_get_409(live_server, api):
    case = api.start(user="callcentre")
    task_id = case["tasks"][0]["id"]
    url = f"{live_server}/api/v1/tasks/{task_id}/complete"
    agents = ["li.na", "wu.fang"]

    def call(user):
        return lambda: requests.post(
            url, json={"data": {"customer_contacted": True}}, headers=auth(user), timeout=60
        )

    responses = race([call(agents[i % 2]) for i in range(RACERS)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: RACERS - 1}, statuses
    assert all(
        r.headers["Content-Type"] == "application/problem+json" for r in responses if r.status_code == 409
    )
    events = api.event_types(case["id"])
    assert events.count("task_completed") == 1
    after = api.case(case["id"])
    assert api.open_elements(after) == ["diagnose_and_repair"]


def test_racing_claims_leave_one_holder(live_server, api):
    case = api.start(user="callcentre")
    url = f"{live_server}/api/v1/tasks/{case['tasks'][0]['id']}/claim"
    users = ["li.na", "wu.fang"] * 5
    responses = race([lambda u=u: requests.post(url, headers=auth(u), timeout=60) for u in users])
    holder = api.case(case["id"])["tasks"][0]["assignee"]
    winners = {users[i] for i, r in enumerate(responses) if r.status_code == 200}
    assert winners == {holder}
    assert all(r.status_code in (200, 409) for r in responses)


def test_racing_starts_with_one_idempotency_key_make_one_case(live_server, api):
    body = {"process": "complaint", "data": start_data()}
    headers = {**auth("callcentre"), "Idempotency-Key": "web-order-991"}
    responses = race(
        [lambda: requests.post(f"{live_server}/api/v1/cases", json=body, headers=headers, timeout=60)] * 10
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 200: 9}, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 1


def test_racing_starts_with_one_business_key_make_one_case(live_server, api):
    body = {"process": "complaint", "business_key": "CRM-777", "data": start_data()}
    responses = race(
        [
            lambda: requests.post(
                f"{live_server}/api/v1/cases", json=body, headers=auth("callcentre"), timeout=60
            )
        ]
        * 10
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 9}, statuses
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 1
