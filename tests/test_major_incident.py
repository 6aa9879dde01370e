"""The major-quality-incident path of DOMAIN.md §5 over HTTP: eligibility, sign-off, remedy.

The clock is pinned (time-machine) so "days since sale" does not depend on the day the suite runs.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import apply, interim_reply, register
from .support import start_data

TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


def major_case(
    api, request="exchange", customer_id="C-1001", purchase_date="2026-10-20", user="li.na", **application
):
    data = start_data(request=request, customer={"id": customer_id}, product={"purchase_date": purchase_date})
    case = register(api, api.start(data, user=user), user=user)
    # The application, and meanwhile the owner's interim reply with the plan (DOMAIN.md §3).
    assert api.open_elements(case) == ["fill_application", "interim_reply"]
    return interim_reply(api, case, user=user)


def test_exchange_keeps_the_original_battery_when_the_battery_is_not_faulty(api):
    case = major_case(api)
    case = apply(
        api,
        case,
        remedy="exchange",
        same_fault_repairs=2,
        cumulative_repair_days=6,
        still_unusable=True,
        battery_faulty=False,
    )
    assert case["data"]["applicant"] == "zhao.min"
    assert "exchange" in case["data"]["legal_remedies"]  # still failing after 2 repairs
    assert "exchange" in case["data"]["eligible_remedies"] and case["data"]["remedy_eligible"] is True
    assert api.open_elements(case) == ["manager_approval"]
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve", comment="同意换车")
    carry = api.open_task(case, "carry_out_remedy")
    assert api.get(f"/api/v1/tasks/{carry['id']}", "zhao.min").get_json()["data"]["keep_battery"] is True
    case = api.complete(
        case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "new_serial": "SN999"}
    )
    assert case["data"]["remedy_outcome"] == [
        {"remedy": "exchange", "approved": True, "keep_battery": True, "amount": 0, "reason": None}
    ]
    assert api.open_elements(case) == ["reply_to_customer"]


def test_exchange_replaces_the_battery_when_the_battery_is_the_faulty_part(api):
    case = apply(api, major_case(api), remedy="exchange", same_fault_repairs=2, battery_faulty=True)
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve")
    case = api.complete(case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True})
    [outcome] = case["data"]["remedy_outcome"]
    assert outcome["keep_battery"] is False and outcome["approved"] is True


def test_refund_within_seven_days_of_sale(api):
    case = major_case(api, request="refund", purchase_date="2026-11-15")
    case = apply(api, case, remedy="refund", purchase_date="2026-11-15", loss_amount=3999)
    assert case["data"]["days_since_sale"] == 5
    assert case["data"]["legal_remedies"] == ["refund", "exchange", "free_repair"]
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve", approved_amount=3999)
    case = api.complete(
        case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "amount_paid": 3999}
    )
    assert case["data"]["remedy_outcome"] == [
        {"remedy": "refund", "approved": True, "keep_battery": False, "amount": 3999, "reason": None}
    ]


def test_fifteen_day_row_offers_exchange_but_not_refund(api):
    case = apply(api, major_case(api, purchase_date="2026-11-08"), purchase_date="2026-11-08")
    assert case["data"]["days_since_sale"] == 12
    assert case["data"]["legal_remedies"] == ["exchange", "free_repair"]


def test_the_more_generous_of_legal_floor_and_company_policy_is_offered(api):
    # Day 40, first repair: the legal floor offers only free repair; company policy refunds a
    # problem that is hard to repair. Both results are kept.
    case = apply(
        api,
        major_case(api, purchase_date="2026-10-11"),
        remedy="refund",
        purchase_date="2026-10-11",
        hard_to_repair=True,
    )
    data = case["data"]
    assert data["legal_remedies"] == ["free_repair"]
    assert data["policy_remedies"] == ["refund"]
    assert data["eligible_remedies"] == ["refund", "free_repair"]


def test_small_compensation_needs_one_sign_off(api):
    case = major_case(api, request="compensation")
    case = apply(api, case, remedy="compensation", injury_or_damage=True, loss_amount=800)
    assert case["data"]["needs_investigation"] is False and case["data"]["needs_general_manager"] is False
    assert "compensation" in case["data"]["eligible_remedies"]
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve")
    assert api.open_elements(case) == ["carry_out_remedy"]
    approvals = api.get(f"/api/v1/cases/{case['id']}/approvals", "sun.li").get_json()["items"]
    assert [(a["approver"], a["decision"], a["level"], a["approved_amount"]) for a in approvals] == [
        ("chen.jie", "approve", "manager", 800)
    ]


def test_large_compensation_is_investigated_and_needs_the_general_manager_too(api):
    case = major_case(api, request="compensation")
    case = apply(api, case, remedy="compensation", injury_or_damage=True, loss_amount=8000)
    assert api.open_elements(case) == ["investigate_claim"]
    case = api.complete(
        case,
        "investigate_claim",
        "zhao.min",
        {"investigation_findings": "电池起火烧毁车库门", "verified_loss_amount": 7600},
    )
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve", approved_amount=7600)
    assert api.open_elements(case) == ["general_manager_approval"]
    assert api.open_task(case, "general_manager_approval")["candidate_group"] == "general_managers"
    case = api.decide(
        case,
        "general_manager_approval",
        "liu.yang",
        decision="approve",
        approved_amount=7500,
        comment="按核实金额赔偿",
    )
    case = api.complete(
        case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "amount_paid": 7500}
    )
    assert [o["amount"] for o in case["data"]["remedy_outcome"]] == [7500]
    approvals = api.get(f"/api/v1/cases/{case['id']}/approvals", "li.na").get_json()["items"]
    assert [(a["level"], a["approver"], a["approved_amount"]) for a in approvals] == [
        ("manager", "chen.jie", 7600),
        ("general_manager", "liu.yang", 7500),
    ]
    assert all(a["at"].endswith("+08:00") for a in approvals)


def test_medium_compensation_is_investigated_but_signed_once(api):
    case = apply(
        api,
        major_case(api, request="compensation"),
        remedy="compensation",
        injury_or_damage=True,
        loss_amount=3000,
    )
    case = api.complete(case, "investigate_claim", "zhao.min", {"investigation_findings": "属实"})
    case = api.decide(case, "manager_approval", "he.ping", decision="approve")
    assert api.open_elements(case) == ["carry_out_remedy"]


def test_rejection_goes_back_to_the_applicant_with_the_reason_and_may_be_revised(api):
    case = apply(api, major_case(api), remedy="exchange")
    without_comment = api.decide(case, "manager_approval", "chen.jie", decision="reject", expect=422)
    assert "comment" in without_comment.get_json()["errors"]
    case = api.decide(case, "manager_approval", "chen.jie", decision="reject", comment="维修记录不全，请补充")
    assert api.open_elements(case) == ["revise_or_withdraw"]
    assert case["data"]["rejection_reason"] == "维修记录不全，请补充"
    case = api.complete(case, "revise_or_withdraw", "zhao.min", {"action": "revise"})
    assert api.open_elements(case) == ["fill_application"]
    case = apply(api, case, remedy="exchange", same_fault_repairs=2, evidence="三次维修单")
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve")
    assert api.open_elements(case) == ["carry_out_remedy"]
    decisions = [
        a["decision"] for a in api.get(f"/api/v1/cases/{case['id']}/approvals", "li.na").get_json()["items"]
    ]
    assert decisions == ["reject", "approve"]


def test_rejection_then_withdrawal_records_an_unapproved_outcome(api):
    case = apply(api, major_case(api, request="refund"), remedy="refund")
    case = api.decide(case, "manager_approval", "chen.jie", decision="reject", comment="不符合退车条件")
    case = api.complete(case, "revise_or_withdraw", "zhao.min", {"action": "withdraw", "note": "改为维修"})
    assert case["data"]["remedy_outcome"] == [
        {
            "remedy": "refund",
            "approved": False,
            "keep_battery": False,
            "amount": 0,
            "reason": "不符合退车条件",
        }
    ]
    assert api.open_elements(case) == ["reply_to_customer"]


def test_general_manager_rejection_also_returns_to_the_applicant(api):
    case = apply(
        api,
        major_case(api, request="compensation"),
        remedy="compensation",
        injury_or_damage=True,
        loss_amount=6000,
    )
    case = api.complete(case, "investigate_claim", "zhao.min", {"investigation_findings": "部分属实"})
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve")
    case = api.decide(case, "general_manager_approval", "liu.yang", decision="reject", comment="金额过高")
    assert api.open_elements(case) == ["revise_or_withdraw"]
    assert case["data"]["rejection_reason"] == "金额过高"


def test_the_applicant_may_not_approve_their_own_application(api):
    case = apply(api, major_case(api), user="ma.li", remedy="exchange")  # ma.li: after-sales lead and manager
    assert case["data"]["applicant"] == "ma.li"
    task = api.open_task(case, "manager_approval")
    assert (
        api.decide(case, "manager_approval", "ma.li", decision="approve", expect=403).get_json()["type"]
        == "/problems/forbidden"
    )
    via_tasks = api.post(
        f"/api/v1/tasks/{task['id']}/complete", "ma.li", json={"data": {"decision": "approve"}}
    )
    assert via_tasks.status_code == 403
    assert api.get("/api/v1/approvals", "ma.li").get_json()["total"] == 0
    assert api.get(f"/api/v1/cases/{case['id']}/approvals", "ma.li").get_json()["total"] == 0
    pending = api.get("/api/v1/approvals", "chen.jie").get_json()["items"]
    assert [p["id"] for p in pending] == [task["id"]]
    assert api.decide(case, "manager_approval", "chen.jie", decision="approve")


def test_completing_an_approval_as_a_task_follows_the_same_rules(api):
    case = apply(api, major_case(api), remedy="exchange")
    task = api.open_task(case, "manager_approval")
    reject = api.post(
        f"/api/v1/tasks/{task['id']}/complete", "chen.jie", json={"data": {"decision": "reject"}}
    )
    assert reject.status_code == 422
    done = api.post(
        f"/api/v1/tasks/{task['id']}/complete", "chen.jie", json={"data": {"decision": "approve"}}
    )
    assert done.status_code == 200
    approvals = api.get(f"/api/v1/cases/{case['id']}/approvals", "chen.jie").get_json()["items"]
    assert approvals[0]["approver"] == "chen.jie" and approvals[0]["level"] == "manager"


def test_the_approver_sees_the_application_and_earlier_compensation_claims(api):
    first = apply(
        api,
        major_case(api, request="compensation", customer_id="C-77"),
        remedy="compensation",
        injury_or_damage=True,
        loss_amount=500,
    )
    api.decide(first, "manager_approval", "chen.jie", decision="approve", approved_amount=450)
    second = apply(
        api,
        major_case(api, request="compensation", customer_id="C-77"),
        remedy="compensation",
        injury_or_damage=True,
        loss_amount=900,
    )
    pending = api.get("/api/v1/approvals", "he.ping").get_json()
    assert pending["total"] == 1
    summary = pending["items"][0]["application"]
    assert summary["case_id"] == second["id"]
    assert summary["remedy"] == "compensation" and summary["loss_amount"] == 900
    assert summary["applicant"] == "zhao.min"
    assert "compensation" in summary["eligible_remedies"]
    earlier = summary["earlier_compensation_claims"]
    assert [(c["case_id"], c["decision"], c["requested_amount"], c["approved_amount"]) for c in earlier] == [
        (first["id"], "approve", 500, 450)
    ]
    decided = api.get("/api/v1/approvals?status=decided", "chen.jie").get_json()
    assert decided["total"] == 1 and decided["items"][0]["case_id"] == first["id"]


def test_only_managers_see_manager_sign_offs(api):
    apply(api, major_case(api), remedy="exchange")
    assert api.get("/api/v1/approvals", "chen.jie").get_json()["total"] == 1
    assert api.get("/api/v1/approvals", "liu.yang").get_json()["total"] == 0
    assert api.get("/api/v1/approvals", "li.na").get_json()["total"] == 0
    assert api.get("/api/v1/approvals?status=maybe", "chen.jie").status_code == 422


def test_deciding_an_unknown_or_non_approval_task_is_404(api):
    case = register(api, api.start())
    task = api.open_task(case, "diagnose_and_repair")
    assert (
        api.post(f"/api/v1/approvals/{task['id']}", "chen.jie", json={"decision": "approve"}).status_code
        == 404
    )
    assert api.post("/api/v1/approvals/nope", "chen.jie", json={"decision": "approve"}).status_code == 404
    assert (
        api.post(f"/api/v1/approvals/{task['id']}", "chen.jie", json={"decision": "maybe"}).status_code == 422
    )
