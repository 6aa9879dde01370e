"""Task inboxes over HTTP: who sees, claims and completes what (API.md "Tasks")."""

from __future__ import annotations

from engine.identity import Actor
from engine.services.context import PageRequest

from .flows import register
from .support import start_data


def test_first_contact_owner_gets_the_registration_task(api):
    case = api.start(user="li.na")
    task = case["tasks"][0]
    assert task["candidate_group"] == "agents" and task["assignee"] == "li.na"
    mine = api.get("/api/v1/tasks?mine=true", "li.na").get_json()
    assert [t["id"] for t in mine["items"]] == [task["id"]]
    assert api.get("/api/v1/tasks?mine=true", "wu.fang").get_json()["total"] == 0


def test_cases_from_integrations_go_to_the_whole_group(api):
    case = api.start(user="callcentre")
    task = case["tasks"][0]
    assert task["assignee"] is None
    for agent in ("li.na", "wu.fang"):
        listed = api.get("/api/v1/tasks", agent).get_json()
        assert [t["id"] for t in listed["items"]] == [task["id"]]
    assert api.get("/api/v1/tasks", "wang.qiang").get_json()["total"] == 0
    assert api.get("/api/v1/tasks?group=agents", "sun.li").get_json()["total"] == 1


def test_get_task_has_form_and_data(api):
    case = api.start(user="callcentre")
    task = api.get(f"/api/v1/tasks/{case['tasks'][0]['id']}", "li.na").get_json()
    assert task["form"]["schema"]["title"].startswith("登记")
    assert task["form"]["schema"]["required"] == ["customer_contacted"]
    assert task["data"]["customer"]["name"] == "张三"
    assert task["lane"] == "agents" and task["status"] == "open"
    assert api.get(f"/api/v1/tasks/{case['tasks'][0]['id']}", "wang.qiang").status_code == 403
    assert api.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000", "li.na").status_code == 404


def test_claim_unclaim_and_claimed_by_someone_else(api):
    case = api.start(user="callcentre")
    task_id = case["tasks"][0]["id"]
    assert api.post(f"/api/v1/tasks/{task_id}/claim", "wang.qiang").status_code == 403
    claimed = api.post(f"/api/v1/tasks/{task_id}/claim", "li.na")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "li.na"
    assert api.post(f"/api/v1/tasks/{task_id}/claim", "li.na").status_code == 200  # idempotent for the holder
    taken = api.post(f"/api/v1/tasks/{task_id}/claim", "wu.fang")
    assert taken.status_code == 409 and "li.na" in taken.get_json()["detail"]
    assert api.post(f"/api/v1/tasks/{task_id}/unclaim", "wu.fang").status_code == 403
    # wu.fang cannot complete a task li.na holds
    response = api.post(
        f"/api/v1/tasks/{task_id}/complete", "wu.fang", json={"data": {"customer_contacted": True}}
    )
    assert response.status_code == 403
    assert api.post(f"/api/v1/tasks/{task_id}/unclaim", "li.na").get_json()["assignee"] is None
    assert api.post(f"/api/v1/tasks/{task_id}/claim", "wu.fang").get_json()["assignee"] == "wu.fang"
    # a supervisor may hand it back to the group
    assert api.post(f"/api/v1/tasks/{task_id}/unclaim", "sun.li").get_json()["assignee"] is None
    types = api.event_types(case["id"])
    assert types.count("task_claimed") == 2 and types.count("task_unclaimed") == 2


def test_complete_moves_the_case_on_and_closes_the_task(api):
    case = api.start(user="callcentre")
    task_id = case["tasks"][0]["id"]
    after = api.post(
        f"/api/v1/tasks/{task_id}/complete", "wu.fang", json={"data": {"customer_contacted": True}}
    )
    assert after.status_code == 200
    body = after.get_json()
    assert body["id"] == case["id"]
    assert api.open_elements(body) == ["diagnose_and_repair"]
    done = api.get(f"/api/v1/tasks/{task_id}", "wu.fang").get_json()
    assert (
        done["status"] == "completed" and done["completed_by"] == "wu.fang" and done["assignee"] == "wu.fang"
    )
    completed = api.get("/api/v1/tasks?status=completed", "wu.fang").get_json()
    assert [t["id"] for t in completed["items"]] == [task_id]


def test_completing_twice_is_409_and_changes_nothing(api):
    case = api.start()
    task_id = case["tasks"][0]["id"]
    assert (
        api.post(
            f"/api/v1/tasks/{task_id}/complete", "li.na", json={"data": {"customer_contacted": True}}
        ).status_code
        == 200
    )
    before = api.events(case["id"])
    again = api.post(
        f"/api/v1/tasks/{task_id}/complete", "li.na", json={"data": {"customer_contacted": True}}
    )
    assert again.status_code == 409
    assert api.events(case["id"]) == before


def test_form_data_that_breaks_the_task_form_is_422_and_changes_nothing(api):
    case = register(api, api.start())
    task_id = api.open_task(case, "diagnose_and_repair")["id"]
    bad = {"fault_found": "", "repaired": "yes", "unknown_field": 1, "external_cause": True}
    response = api.post(f"/api/v1/tasks/{task_id}/complete", "wang.qiang", json={"data": bad})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"fault_found", "repaired", "unknown_field", "external_cause_detail"}
    assert api.get(f"/api/v1/tasks/{task_id}", "wang.qiang").get_json()["status"] == "open"
    assert api.case(case["id"])["data"].get("repaired") is None


def test_outsiders_cannot_complete_and_unknown_tasks_are_404(api):
    case = register(api, api.start())
    task_id = api.open_task(case, "diagnose_and_repair")["id"]
    record = {"fault_found": "x", "repaired": True}
    assert api.post(f"/api/v1/tasks/{task_id}/complete", "li.na", json={"data": record}).status_code == 403
    assert api.post("/api/v1/tasks/nope/complete", "li.na", json={"data": record}).status_code == 404
    assert api.post("/api/v1/tasks/nope/claim", "li.na").status_code == 404
    assert (
        api.post(f"/api/v1/tasks/{task_id}/complete", "wang.qiang", json={"data": record}).status_code == 200
    )


def test_urgent_work_comes_first_in_the_inbox(api):
    ordinary = api.start(start_data(customer={"id": "C-1"}), user="callcentre")
    urgent = api.start(start_data(customer={"id": "C-2", "tier": "sensitive"}), user="callcentre")
    items = api.get("/api/v1/tasks", "li.na").get_json()["items"]
    assert [t["case_id"] for t in items] == [urgent["id"], ordinary["id"]]


def test_an_inbox_read_page_by_page_holds_every_task_once_and_counts_them(api, engine):
    cases = [api.start(start_data(customer={"id": f"C-{n}"}), user="callcentre") for n in range(5)]
    whole = api.get("/api/v1/tasks?per_page=50", "wu.fang").get_json()
    assert whole["total"] == 5 and len(whole["items"]) == 5
    pages = [api.get(f"/api/v1/tasks?per_page=2&page={n}", "wu.fang").get_json() for n in (1, 2, 3, 4)]
    # A full page counts the rest; the last one knows the total from what it read.
    assert [page["total"] for page in pages] == [5, 5, 5, 5]
    assert [len(page["items"]) for page in pages] == [2, 2, 1, 0]
    listed = [t["id"] for page in pages for t in page["items"]]
    assert listed == [t["id"] for t in whole["items"]]
    assert {t["case_id"] for t in whole["items"]} == {c["id"] for c in cases}
    # Someone in no group at all sees no group's work (the query then has no group to match).
    nobody = Actor("nobody")
    assert engine.tasks.list(nobody, PageRequest())["total"] == 0
    assert engine.tasks.list(nobody, PageRequest(), status="completed")["items"] == []


def test_task_list_rejects_bad_filters(api):
    assert api.get("/api/v1/tasks?status=lost", "li.na").status_code == 422
    assert api.get("/api/v1/tasks?mine=perhaps", "li.na").status_code == 422
    assert api.get("/api/v1/tasks?per_page=0", "li.na").status_code == 422
