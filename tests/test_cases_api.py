"""Starting and reading cases over HTTP: the contract of API.md "Cases"."""

from __future__ import annotations

from .flows import register
from .support import start_data


def test_start_returns_a_classified_case_with_its_acknowledgement_deadline(api):
    case = api.start()
    assert case["process"] == "complaint"
    assert case["status"] == "running"
    assert case["version"] == 1
    assert case["priority"] == "ordinary"
    assert case["data"]["urgent_kinds"] == []
    assert case["business_key"].startswith("TS-")
    assert [t["element_id"] for t in case["tasks"]] == ["register_complaint"]
    assert [t["name"] for t in case["timers"]] == ["回应超时 Acknowledgement overdue"]
    assert case["timers"][0]["due_at"].endswith("+08:00")
    # Chinese text comes back as it went in.
    assert case["data"]["customer"]["name"] == "张三"


def test_chinese_is_sent_unescaped(api):
    case = api.start()
    raw = api.get(f"/api/v1/cases/{case['id']}", "li.na").get_data(as_text=True)
    assert "张三" in raw and "\\u" not in raw


def test_generated_business_keys_are_sequential_per_day(api):
    first = api.start()["business_key"]
    second = api.start()["business_key"]
    assert first[:12] == second[:12]
    assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1


def test_a_given_business_key_is_kept_and_a_second_active_case_with_it_is_refused(api):
    case = api.start(business_key="CRM-42")
    assert case["business_key"] == "CRM-42"
    response = api.post(
        "/api/v1/cases",
        "li.na",
        json={"process": "complaint", "business_key": "CRM-42", "data": start_data()},
    )
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/problems/conflict"


def test_business_key_is_free_again_once_the_case_is_cancelled(api):
    case = api.start(business_key="CRM-43")
    assert (
        api.post(f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={"reason": "duplicate"}).status_code
        == 200
    )
    assert api.start(business_key="CRM-43")["id"] != case["id"]


def test_idempotency_key_returns_the_same_case_with_200(api):
    headers = {"Idempotency-Key": "call-7781"}
    body = {"process": "complaint", "data": start_data()}
    first = api.post("/api/v1/cases", "callcentre", json=body, headers=headers)
    again = api.post("/api/v1/cases", "callcentre", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    listed = api.get("/api/v1/cases", "sun.li").get_json()
    assert listed["total"] == 1


def test_idempotency_key_reused_for_a_different_request_is_a_conflict(api):
    headers = {"Idempotency-Key": "call-7782"}
    api.post(
        "/api/v1/cases", "callcentre", json={"process": "complaint", "data": start_data()}, headers=headers
    )
    other = start_data(customer={"id": "C-2"})
    response = api.post(
        "/api/v1/cases", "callcentre", json={"process": "complaint", "data": other}, headers=headers
    )
    assert response.status_code == 409
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 1


def test_start_data_that_breaks_the_start_form_is_422_per_field_and_creates_nothing(api):
    data = start_data()
    del data["customer"]["name"]
    data["channel"] = "fax"
    data["product"]["purchase_date"] = "2026-13-45"
    response = api.post("/api/v1/cases", "li.na", json={"process": "complaint", "data": data})
    assert response.status_code == 422
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert problem["status"] == 422
    assert set(problem["errors"]) == {"customer.name", "channel", "product.purchase_date"}
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 0
    assert api.get("/api/v1/tasks", "li.na").get_json()["total"] == 0


def test_required_fields_of_the_start_form(api):
    response = api.post("/api/v1/cases", "li.na", json={"process": "complaint", "data": {}})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"channel", "customer", "problem"}


def test_malformed_json_is_400(api):
    response = api.client.post(
        "/api/v1/cases",
        data="{not json",
        headers={"Authorization": "Bearer test-token-li.na-0123456789", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["type"] == "/problems/malformed-json"


def test_a_body_that_breaks_the_request_schema_is_422(api):
    response = api.post("/api/v1/cases", "li.na", json={"proces": "complaint"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"proces", "process"}
    response = api.post("/api/v1/cases", "li.na", json=["complaint"])
    assert response.status_code == 422


def test_unknown_process_and_unknown_case_are_404(api):
    response = api.post("/api/v1/cases", "li.na", json={"process": "nope", "data": {}})
    assert response.status_code == 404
    assert api.get("/api/v1/cases/00000000-0000-0000-0000-000000000000", "li.na").status_code == 404
    assert api.get("/api/v1/cases/not-a-uuid/events", "li.na").status_code == 404


def test_list_filters_and_pages(api):
    first = api.start(start_data(customer={"id": "C-1"}))
    api.start(start_data(customer={"id": "C-2", "tier": "important"}))
    api.start(start_data(customer={"id": "C-3"}))
    everything = api.get("/api/v1/cases?per_page=2", "sun.li").get_json()
    assert everything["total"] == 3 and len(everything["items"]) == 2 and everything["per_page"] == 2
    page_two = api.get("/api/v1/cases?per_page=2&page=2", "sun.li").get_json()
    assert len(page_two["items"]) == 1
    assert api.get("/api/v1/cases?customer_id=C-1", "sun.li").get_json()["items"][0]["id"] == first["id"]
    urgent = api.get("/api/v1/cases?priority=urgent", "sun.li").get_json()
    assert [c["customer_id"] for c in urgent["items"]] == ["C-2"]
    by_key = api.get(f"/api/v1/cases?business_key={first['business_key']}", "sun.li").get_json()
    assert by_key["total"] == 1
    assert api.get("/api/v1/cases?status=completed&process=complaint", "sun.li").get_json()["total"] == 0
    assert api.get("/api/v1/cases?per_page=201", "sun.li").status_code == 422
    assert api.get("/api/v1/cases?page=0", "sun.li").status_code == 422
    assert api.get("/api/v1/cases?status=lost", "sun.li").status_code == 422


def test_events_are_the_audit_trail_oldest_first_with_actor(api):
    case = api.start()
    register(api, case)
    events = api.events(case["id"])
    assert [e["type"] for e in events] == ["case_started", "task_created", "task_completed", "task_created"]
    assert events[0]["type"] == "case_started" and events[0]["actor"] == "li.na"
    completed = [e for e in events if e["type"] == "task_completed"]
    assert len(completed) == 1 and completed[0]["actor"] == "li.na"
    assert completed[0]["task_id"] == case["tasks"][0]["id"]
    assert all(e["at"].endswith("+08:00") for e in events)


def test_message_is_delivered_only_when_the_case_waits_for_it(api):
    case = api.start()
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/customer_called_back",
        "callcentre",
        json={"data": {"note": "x"}},
    )
    assert response.status_code == 409
    assert "message_received" not in api.event_types(case["id"])


def test_cancel_needs_a_supervisor_and_a_reason(api):
    case = api.start()
    assert api.post(f"/api/v1/cases/{case['id']}/cancel", "li.na", json={"reason": "x"}).status_code == 403
    assert api.post(f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={}).status_code == 422
    cancelled = api.post(
        f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={"reason": "客户撤诉"}
    ).get_json()
    assert cancelled["status"] == "cancelled" and cancelled["tasks"] == [] and cancelled["timers"] == []
    assert (
        api.post(f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={"reason": "again"}).status_code == 409
    )
    assert api.event_types(case["id"])[-1] == "case_cancelled"


def test_health_reports_an_unreachable_database_with_503(tmp_path, directory):
    from api import create_app
    from engine.config import EngineConfig
    from engine.core import Engine

    missing = Engine(EngineConfig(database_url=f"sqlite:///{tmp_path}/no/such/folder/x.db"), directory)
    response = create_app(missing, directory).test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
