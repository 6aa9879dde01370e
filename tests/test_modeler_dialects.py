"""Diagrams from the modelers process owners use deploy and run, each parsed by SpiffWorkflow's
matching parser: spiff-arena's modeler (spiffworkflow extensions) and Camunda Modeler 7
(`camunda:` attributes). Examples in tests/modelers/."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest

from .support import auth

MODELERS = Path(__file__).resolve().parent / "modelers"


def deploy_files(api, files: dict[str, bytes]):
    data = {f"file{i}": (io.BytesIO(content), name) for i, (name, content) in enumerate(files.items())}
    return api.client.post(
        "/api/v1/deployments", data=data, headers=auth("zhou.hao"), content_type="multipart/form-data"
    )


def deploy_folder(api, folder: Path):
    return deploy_files(api, {path.name: path.read_bytes() for path in sorted(folder.iterdir())})


def days_ago(days: int) -> str:
    """A purchase date `days` before today (the table's limits are far from these, so the
    service's timezone being a day ahead of the machine's does not matter)."""
    return (date.today() - timedelta(days=days)).isoformat()


def start(api, process: str, data: dict, expect: int = 201):
    response = api.post("/api/v1/cases", "li.na", json={"process": process, "data": data})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(("folder", "key"), [("spiff_arena", "warranty_check"), ("camunda7", "repair_quote")])
def test_deploying_again_changes_nothing(api, folder, key):
    first = deploy_folder(api, MODELERS / folder)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["deployed"] == [{"key": key, "version": 1, "created": True}]
    again = deploy_folder(api, MODELERS / folder)
    assert again.status_code == 200
    assert again.get_json()["deployed"] == [{"key": key, "version": 1, "created": False}]


def test_a_spiff_arena_diagram_runs(api):
    assert deploy_folder(api, MODELERS / "spiff_arena").status_code == 201
    refused = start(api, "warranty_check", {"customer_name": "王五", "part": "seat"}, expect=422)
    assert set(refused["errors"]) == {"part", "purchase_date"}
    case = start(
        api, "warranty_check", {"customer_name": "王五", "purchase_date": days_ago(500), "part": "battery"}
    )
    # the script task counted the days; calledDecisionId ran the table (battery: two years)
    assert 499 <= case["data"]["days_owned"] <= 501
    assert case["data"]["covered"] is True and case["data"]["cover"] == "battery"
    task = api.open_task(case, "book_free_repair")
    assert task["candidate_group"] == "technicians"  # the lane
    detail = api.get(f"/api/v1/tasks/{task['id']}", "wang.qiang").get_json()
    assert detail["form"]["schema"]["title"].startswith("安排免费维修")
    assert detail["form"]["ui_schema"]["ui:order"] == ["visit_date", "repair_note"]
    assert detail["data"]["repair_note"] == "保修范围: battery"  # the preScript ran
    assert api.complete(case, "book_free_repair", "li.na", {"visit_date": "2026-11-25"}, expect=403)
    api.complete(case, "book_free_repair", "wang.qiang", {"visit_date": "not a date"}, expect=422)
    done = api.complete(case, "book_free_repair", "wang.qiang", {"visit_date": "2026-11-25"})
    assert done["status"] == "completed"
    assert done["data"]["booked"] is True  # the postScript ran


def test_a_spiff_arena_diagram_takes_the_other_branch(api):
    deploy_folder(api, MODELERS / "spiff_arena")
    case = start(
        api, "warranty_check", {"customer_name": "赵六", "purchase_date": days_ago(500), "part": "frame"}
    )
    assert case["data"]["covered"] is False and case["data"]["cover"] == "none"  # the frame: one year
    assert api.open_elements(case) == ["offer_paid_repair"]
    assert api.open_task(case, "offer_paid_repair")["candidate_group"] == "agents"  # the other lane
    api.complete(case, "offer_paid_repair", "wang.qiang", {"quoted_price": 300}, expect=403)
    api.complete(case, "offer_paid_repair", "li.na", {"quoted_price": -1}, expect=422)
    assert api.complete(case, "offer_paid_repair", "li.na", {"quoted_price": 300})["status"] == "completed"


def test_a_camunda_modeler_diagram_runs(api):
    assert deploy_folder(api, MODELERS / "camunda7").status_code == 201
    # the start form, from the start event's camunda:formKey
    refused = start(api, "repair_quote", {"customer_name": "孙七"}, expect=422)
    assert set(refused["errors"]) == {"part"}
    case = start(api, "repair_quote", {"customer_name": "孙七", "part": "battery"})
    task = api.open_task(case, "assess_damage")
    assert task["candidate_group"] == "technicians"  # camunda:candidateGroups
    detail = api.get(f"/api/v1/tasks/{task['id']}", "wang.qiang").get_json()
    # camunda:formKey="embedded:deployment:assess-damage.schema.json": a file of the deployment
    assert detail["form"]["schema"]["title"] == "Assess the damage"
    api.complete(case, "assess_damage", "li.na", {"labour_hours": 2}, expect=403)
    api.complete(case, "assess_damage", "wang.qiang", {"labour_hours": -1}, expect=422)
    case = api.complete(case, "assess_damage", "wang.qiang", {"labour_hours": 2})
    assert case["data"]["price"] == 1360  # camunda:decisionRef: 1200 + 80 × 2
    approval = api.open_task(case, "approve_quote")
    assert approval["candidate_group"] == "managers" and approval["is_approval"] is True
    assert api.get("/api/v1/approvals", "chen.jie").get_json()["total"] == 1
    detail = api.get(f"/api/v1/tasks/{approval['id']}", "chen.jie").get_json()
    assert detail["form"]["schema"]["title"] == "Approve the quote"  # a plain camunda:formKey
    api.decide(case, "approve_quote", "wang.qiang", expect=403, decision="approve", approved_amount=1360)
    case = api.decide(case, "approve_quote", "chen.jie", decision="approve", approved_amount=1360)
    assert case["status"] == "completed"
    levels = [
        a["level"] for a in api.get(f"/api/v1/cases/{case['id']}/approvals", "li.na").get_json()["items"]
    ]
    assert levels == ["manager"]


def test_a_camunda_modeler_diagram_skips_approval_for_small_quotes(api):
    deploy_folder(api, MODELERS / "camunda7")
    case = start(api, "repair_quote", {"customer_name": "周八", "part": "light"})
    case = api.complete(case, "assess_damage", "wang.qiang", {"labour_hours": 1})
    assert case["data"]["price"] == 180 and case["status"] == "completed"


def test_a_camunda_form_key_outside_the_deployment_is_refused(api):
    """`embedded:deployment:NAME` names a deployed file; `embedded:app:...` lives in Camunda's web
    app, which this service does not have."""
    files = {p.name: p.read_bytes() for p in sorted((MODELERS / "camunda7").iterdir())}
    files["repair_quote.bpmn"] = files["repair_quote.bpmn"].replace(
        b"embedded:deployment:assess-damage.schema.json", b"embedded:app:forms/assess-damage.html"
    )
    refused = deploy_files(api, files)
    assert refused.status_code == 422
    problems = [(p["file"], p["element_id"], p["message"]) for p in refused.get_json()["problems"]]
    assert problems == [
        (
            "repair_quote.bpmn",
            "assess_damage",
            "form file 'embedded:app:forms/assess-damage.html' is not in the deployment",
        )
    ]
