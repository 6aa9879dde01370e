"""One application, several remedies (DOMAIN.md §5), through the real app and the real diagrams.

An application may ask for an exchange or a refund *and* incidental compensation; each remedy is
signed off and carried out on its own (`remedy_signoff.bpmn`, called once per remedy) and
`remedy_outcome` lists one result per remedy. Misuse, tampering or force majeure rule compensation
out while the exchange or refund is still decided; a service complaint may lead to a
compensation-only application. The sign-off rules (separation of duties, the level re-decided from
the largest amount, each level capped by the one before, paid ≤ approved) hold per remedy, tried by
class of fault. The clock is pinned (time-machine) so "days since sale" does not drift.
"""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import example, given
from hypothesis import strategies as st

from .flows import APPLICATION, interim_reply, register
from .support import ServiceClient, start_data
from .test_signoff_rules import BASE_USERS, HYPOTHESIS, customer, service_for

TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PURCHASED = "2026-10-20"  # day 31: inside the 三包 period, past the 15-day rows


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


# ---------------------------------------------------------------- helpers
def open_major_case(
    api: ServiceClient, request: str = "exchange", purchase_date: str = PURCHASED, **start
) -> dict:
    data = start_data(
        request=request, customer={"id": customer()}, product={"purchase_date": purchase_date}, **start
    )
    case = register(api, api.start(data))
    assert "fill_application" in api.open_elements(case)
    return interim_reply(api, case)  # the owner's interim reply, alongside the application


def apply(api: ServiceClient, case: dict, user: str = "zhao.min", **changes) -> dict:
    """The application form as the after-sales lead fills it in."""
    form = {**APPLICATION, "purchase_date": PURCHASED, **changes}
    return api.complete(case, "fill_application", user, form)


def tasks_by_remedy(api: ServiceClient, case: dict, element_id: str, user: str = "sun.li") -> dict[str, dict]:
    """The open tasks of one element, keyed by the remedy each is about (its own task data)."""
    found = {}
    for task in case["tasks"]:
        if task["element_id"] == element_id:
            full = api.get(f"/api/v1/tasks/{task['id']}", user).get_json()
            found[full["data"]["remedy"]] = task
    return found


def decide(api: ServiceClient, task: dict, user: str, expect: int = 200, **decision):
    response = api.post(f"/api/v1/approvals/{task['id']}", user, json=decision)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def carry_out(api: ServiceClient, task: dict, expect: int = 200, **record):
    response = api.post(
        f"/api/v1/tasks/{task['id']}/complete",
        "zhao.min",
        json={"data": {"remedy_carried_out": True, **record}},
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def decisions(api: ServiceClient, case: dict) -> list[tuple]:
    items = api.get(f"/api/v1/cases/{case['id']}/approvals?per_page=100", "sun.li").get_json()["items"]
    return [(a["remedy"], a["level"], a["approver"], a["decision"], a["approved_amount"]) for a in items]


def outcome(remedy, approved, amount=0, keep_battery=False, reason=None) -> dict:
    return {
        "remedy": remedy,
        "approved": approved,
        "keep_battery": keep_battery,
        "amount": amount,
        "reason": reason,
    }


# ---------------------------------------------------------------- exchange + compensation, decided apart
def test_exchange_and_compensation_are_decided_on_their_own_one_approved_the_other_rejected(api):
    case = open_major_case(api)
    case = apply(
        api, case, remedy="exchange", same_fault_repairs=2, still_unusable=True,
        injury_or_damage=True, with_compensation=True, compensation_amount=1200,
    )  # fmt: skip
    assert case["data"]["requested_remedies"] == ["exchange", "compensation"]
    assert {"exchange", "compensation"} <= set(case["data"]["eligible_remedies"])
    signoffs = tasks_by_remedy(api, case, "manager_approval")
    assert set(signoffs) == {"exchange", "compensation"}

    pending = {
        t["application"]["remedy"]: t["application"]
        for t in api.get("/api/v1/approvals", "chen.jie").get_json()["items"]
    }
    assert pending["exchange"]["loss_amount"] == 0 and pending["compensation"]["loss_amount"] == 1200
    assert pending["compensation"]["requested_remedies"] == ["exchange", "compensation"]

    case = decide(api, signoffs["compensation"], "chen.jie", decision="reject", comment="损失凭证不足")
    assert "revise_or_withdraw" not in api.open_elements(case)  # the exchange is still being decided
    case = decide(api, signoffs["exchange"], "he.ping", decision="approve", comment="同意换车")
    [carry] = tasks_by_remedy(api, case, "carry_out_remedy").values()
    case = carry_out(api, carry, new_serial="SN999")
    assert "revise_or_withdraw" in api.open_elements(case)
    assert case["data"]["rejection_reason"] == "损失凭证不足"

    case = api.complete(case, "revise_or_withdraw", "zhao.min", {"action": "withdraw", "note": "告知客户"})
    assert case["data"]["remedy_outcome"] == [
        outcome("exchange", True, keep_battery=True),
        outcome("compensation", False, reason="损失凭证不足"),
    ]
    assert sorted(decisions(api, case)) == [
        ("compensation", "manager", "chen.jie", "reject", None),
        ("exchange", "manager", "he.ping", "approve", 0),
    ]
    assert "reply_to_customer" in api.open_elements(case)


def test_a_revised_application_signs_off_again_only_what_was_not_approved(api):
    case = open_major_case(api)
    case = apply(
        api, case, remedy="exchange", same_fault_repairs=2, still_unusable=True,
        injury_or_damage=True, with_compensation=True, compensation_amount=3000,
    )  # fmt: skip
    # 3,000 CNY of compensation is investigated first; the exchange goes straight to the manager.
    assert api.open_elements(case).count("investigate_claim") == 1
    [exchange] = tasks_by_remedy(api, case, "manager_approval").values()
    case = decide(api, exchange, "chen.jie", decision="approve")
    case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")["exchange"])
    case = api.complete(
        case,
        "investigate_claim",
        "zhao.min",
        {"investigation_findings": "部分属实", "verified_loss_amount": 800},
    )
    case = decide(
        api,
        tasks_by_remedy(api, case, "manager_approval")["compensation"],
        "chen.jie",
        decision="reject",
        comment="请按核实金额重新申请",
    )

    case = api.complete(case, "revise_or_withdraw", "zhao.min", {"action": "revise"})
    assert "fill_application" in api.open_elements(case)
    case = apply(
        api, case, remedy="exchange", same_fault_repairs=2, still_unusable=True,
        injury_or_damage=True, with_compensation=True, compensation_amount=800,
    )  # fmt: skip
    assert set(tasks_by_remedy(api, case, "manager_approval")) == {"compensation"}  # the exchange is done
    case = decide(
        api, tasks_by_remedy(api, case, "manager_approval")["compensation"], "he.ping", decision="approve"
    )
    case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")["compensation"], amount_paid=800)
    assert case["data"]["remedy_outcome"] == [
        outcome("exchange", True, keep_battery=True),
        outcome("compensation", True, amount=800),
    ]
    assert [d[0] for d in decisions(api, case)] == ["exchange", "compensation", "compensation"]


# ---------------------------------------------------------------- refund + compensation, each its own level
def test_refund_and_compensation_each_follow_their_own_level_and_payment_cap(api):
    case = open_major_case(api, request="refund", purchase_date="2026-11-15")
    case = apply(
        api, case, purchase_date="2026-11-15", remedy="refund", loss_amount=3999,
        injury_or_damage=True, with_compensation=True, compensation_amount=8000,
    )  # fmt: skip
    assert case["data"]["legal_remedies"] == ["refund", "exchange", "free_repair"]
    # The refund goes straight to the manager; 8,000 CNY of compensation is investigated first.
    assert api.open_elements(case).count("manager_approval") == 1
    assert api.open_elements(case).count("investigate_claim") == 1
    refund = tasks_by_remedy(api, case, "manager_approval")["refund"]
    case = decide(api, refund, "chen.jie", decision="approve", approved_amount=3999)
    assert "general_manager_approval" not in api.open_elements(case)  # 3,999 CNY: the manager's level
    case = api.complete(
        case,
        "investigate_claim",
        "zhao.min",
        {"investigation_findings": "电池起火", "verified_loss_amount": 7600},
    )
    case = decide(
        api, tasks_by_remedy(api, case, "manager_approval")["compensation"], "chen.jie", decision="approve"
    )
    gm = tasks_by_remedy(api, case, "general_manager_approval")
    assert set(gm) == {"compensation"}  # over 5,000 CNY: the general manager signs too
    case = decide(
        api, gm["compensation"], "liu.yang", decision="approve", approved_amount=7500, comment="按核实金额"
    )

    carries = tasks_by_remedy(api, case, "carry_out_remedy")
    # The refund's approval (3,999) is no licence to pay more compensation than its own 7,500, and
    # the compensation's is none to refund more than 3,999.
    assert "amount_paid" in carry_out(api, carries["compensation"], expect=422, amount_paid=7600)["errors"]
    assert "amount_paid" in carry_out(api, carries["refund"], expect=422, amount_paid=4000)["errors"]
    carry_out(api, carries["refund"], amount_paid=3999)
    case = carry_out(api, carries["compensation"], amount_paid=7500)
    assert case["data"]["remedy_outcome"] == [
        outcome("refund", True, amount=3999),
        outcome("compensation", True, amount=7500),
    ]
    assert decisions(api, case) == [
        ("refund", "manager", "chen.jie", "approve", 3999),
        ("compensation", "manager", "chen.jie", "approve", 7600),
        ("compensation", "general_manager", "liu.yang", "approve", 7500),
    ]


# ---------------------------------------------------------------- misuse, tampering, force majeure
@pytest.mark.parametrize("remedy", ["exchange", "refund"])
@pytest.mark.parametrize("manager", ["approve", "reject"])
def test_misuse_rules_compensation_out_while_the_exchange_or_refund_is_still_decided(api, remedy, manager):
    case = open_major_case(api, request=remedy)
    case = apply(
        api, case, remedy=remedy, misuse_or_force_majeure=True, same_fault_repairs=2, still_unusable=True,
        injury_or_damage=True, with_compensation=True, compensation_amount=2500,
    )  # fmt: skip
    ruled_out = outcome("compensation", False, reason="misuse_or_force_majeure")
    assert case["data"]["remedy_outcome"] == [ruled_out]  # recorded at once, never signed off
    assert case["data"]["legal_remedies"] == ["paid_repair"]  # the legal floor decides the rest
    assert "compensation" not in case["data"]["eligible_remedies"]
    assert "investigate_claim" not in api.open_elements(case)
    [(only, signoff)] = tasks_by_remedy(api, case, "manager_approval").items()
    assert only == remedy
    [pending] = api.get("/api/v1/approvals", "chen.jie").get_json()["items"]
    assert pending["application"]["remedy"] == remedy and pending["application"]["remedy_eligible"] is False
    if manager == "reject":
        case = decide(api, signoff, "chen.jie", decision="reject", comment="人为损坏，三包只能收费维修")
        case = api.complete(case, "revise_or_withdraw", "zhao.min", {"action": "withdraw"})
        assert case["data"]["remedy_outcome"] == [
            outcome(remedy, False, reason="人为损坏，三包只能收费维修"),
            ruled_out,
        ]
    else:  # the manager may still grant more than the floor; the compensation stays ruled out
        case = decide(api, signoff, "chen.jie", decision="approve", comment="公司特批")
        case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")[remedy])
        assert case["data"]["remedy_outcome"] == [
            outcome(remedy, True, keep_battery=remedy == "exchange"),
            ruled_out,
        ]
    assert [d[0] for d in decisions(api, case)] == [remedy]
    assert "reply_to_customer" in api.open_elements(case)


def test_misuse_refuses_a_compensation_only_application_without_a_sign_off(api):
    case = open_major_case(api, request="compensation")
    case = apply(
        api, case, remedy="compensation", misuse_or_force_majeure=True, injury_or_damage=True, loss_amount=900
    )
    assert case["data"]["remedy_outcome"] == [
        outcome("compensation", False, reason="misuse_or_force_majeure")
    ]
    assert decisions(api, case) == []
    assert "reply_to_customer" in api.open_elements(case)


def test_a_compensation_only_application_has_one_outcome(api):
    case = open_major_case(api, request="compensation")
    case = apply(api, case, remedy="compensation", injury_or_damage=True, loss_amount=600)
    assert case["data"]["requested_remedies"] == ["compensation"]
    case = decide(
        api, tasks_by_remedy(api, case, "manager_approval")["compensation"], "chen.jie", decision="approve"
    )
    case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")["compensation"], amount_paid=600)
    assert case["data"]["remedy_outcome"] == [outcome("compensation", True, amount=600)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"with_compensation": True}, "compensation_amount"),  # compensation claimed without an amount
        ({"with_compensation": True, "compensation_amount": 100, "remedy": "compensation"}, "remedy"),
        ({"with_compensation": True, "compensation_amount": -1}, "compensation_amount"),
        ({"compensation_amount": "100"}, "compensation_amount"),
    ],
)
def test_an_incomplete_compensation_claim_is_refused_and_changes_nothing(api, changes, field):
    case = open_major_case(api)
    form = {**APPLICATION, "purchase_date": PURCHASED, "remedy": "exchange", **changes}
    refused = api.complete(case, "fill_application", "zhao.min", form, expect=422).get_json()
    assert field in refused["errors"]
    assert "fill_application" in api.open_elements(api.case(case["id"]))


# ---------------------------------------------------------------- a service complaint asks for compensation
PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="definitions_service_probe"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="service_compensation_probe" name="Service complaint to compensation" isExecutable="true">
    <bpmn:startEvent id="probe_start" name="Service failure confirmed"><bpmn:outgoing>probe_flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="probe_major" name="Compensation application" calledElement="major_quality_incident">
      <bpmn:incoming>probe_flow_1</bpmn:incoming><bpmn:outgoing>probe_flow_2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="probe_end" name="Done"><bpmn:incoming>probe_flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="probe_flow_1" sourceRef="probe_start" targetRef="probe_major" />
    <bpmn:sequenceFlow id="probe_flow_2" sourceRef="probe_major" targetRef="probe_end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("category", ["service_attitude", "service_quality"])
def test_a_service_complaint_may_lead_to_a_compensation_only_application(api, category):
    """The handling diagram calls the major-incident path with the case data it already holds.

    A stand-in caller (deployed like any process) does what complaint_handling.bpmn does for a
    service complaint whose cause was confirmed and which cost the customer time or money.
    """
    deployed = api.post(
        "/api/v1/deployments", "zhou.hao",
        data={"file": (io.BytesIO(PROBE.encode()), "service_compensation_probe.bpmn")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert deployed.status_code == 201, deployed.get_json()
    data = start_data(
        problem={"category": category, "description": "师傅三次爽约，客户请假三天"},
        request="compensation", amount_claimed=450, customer={"id": customer()},
        product={"purchase_date": PURCHASED}, signoff_working_days=2,
    )  # fmt: skip
    response = api.post(
        "/api/v1/cases", "li.na", json={"process": "service_compensation_probe", "data": data}
    )
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    fill = api.open_task(case, "fill_application")
    prefilled = api.get(f"/api/v1/tasks/{fill['id']}", "zhao.min").get_json()["data"]
    assert prefilled["remedy"] == "compensation" and prefilled["service_failure"] is True
    assert prefilled["loss_amount"] == 450
    case = apply(api, case, remedy="compensation", loss_amount=450)
    assert case["data"]["policy_remedies"] == ["compensation"]  # company_policy: rule_policy_service_failure
    assert case["data"]["requested_remedies"] == ["compensation"]
    case = decide(
        api, tasks_by_remedy(api, case, "manager_approval")["compensation"], "chen.jie", decision="approve"
    )
    case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")["compensation"], amount_paid=450)
    assert case["data"]["remedy_outcome"] == [outcome("compensation", True, amount=450)]
    assert case["status"] == "completed"


# ---------------------------------------------------------------- the sign-off rules hold per remedy
ACTS = st.lists(
    st.tuples(
        st.sampled_from(["both", "mgr", "gm"]),
        st.sampled_from(["refund", "compensation"]),
        st.sampled_from(["claim", "approve", "unclaim"]),
    ),
    min_size=1,
    max_size=10,
)


@given(acts=ACTS)
@example(
    acts=[("both", "refund", "approve"), ("both", "compensation", "approve"), ("both", "refund", "approve")]
)
@example(
    acts=[("both", "refund", "approve"), ("gm", "refund", "approve"), ("both", "compensation", "approve")]
)
@HYPOTHESIS
def test_each_remedy_is_signed_by_two_different_people_whatever_the_interleaving(database_url, acts):
    users = {
        **BASE_USERS,
        "both": ["managers", "general_managers"],
        "mgr": ["managers"],
        "gm": ["general_managers"],
    }
    api, engine = service_for(database_url, users)
    try:
        data = start_data(
            request="refund", customer={"id": customer()}, product={"purchase_date": "2026-11-15"}
        )
        case = interim_reply(api, register(api, api.start(data, user="agent"), user="agent"), user="agent")
        case = apply(
            api,
            case,
            user="lead",
            purchase_date="2026-11-15",
            remedy="refund",
            loss_amount=6000,
            injury_or_damage=True,
            with_compensation=True,
            compensation_amount=1500,
        )  # fmt: skip  (refund over 5,000: two levels; compensation of 1,500: the manager alone)

        def approval_tasks() -> dict[str, dict]:
            current = api.case(case["id"])
            found = {}
            for task in current["tasks"]:
                if task["is_approval"]:
                    full = api.get(f"/api/v1/tasks/{task['id']}", "sun.li").get_json()
                    found[full["data"]["remedy"]] = task
            return found

        def check_invariants():
            by_remedy: dict[str, list[str]] = {}
            for remedy, _level, approver, _decision, _amount in decisions(api, case):
                by_remedy.setdefault(remedy, []).append(approver)
            for approvers in by_remedy.values():
                assert "lead" not in approvers
                assert len(approvers) == len(set(approvers)), by_remedy

        for who, remedy, act in acts:
            task = approval_tasks().get(remedy)
            if task is None:
                continue
            if act == "approve":
                api.post(f"/api/v1/approvals/{task['id']}", who, json={"decision": "approve"})
            else:
                api.post(f"/api/v1/tasks/{task['id']}/{act}", who)
            check_invariants()
        while tasks := approval_tasks():
            for task in tasks.values():
                candidates = [task["assignee"]] if task["assignee"] else ["mgr", "gm", "both"]
                answers = [
                    api.post(f"/api/v1/approvals/{task['id']}", who, json={"decision": "approve"}).status_code
                    for who in candidates
                ]
                assert 200 in answers, (task, answers)
                check_invariants()
        levels = sorted((remedy, level) for remedy, level, *_ in decisions(api, case))
        assert levels == [("compensation", "manager"), ("refund", "general_manager"), ("refund", "manager")]
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("compensation_approved", "says_why", "compensation_level"),
    [
        (1000, False, None),  # within the claim: the manager's level
        (
            6000,
            True,
            "general_manager",
        ),  # more than claimed, said why, over the limit: on to the general manager
        (6000, False, "refused"),  # more than claimed without a reason: refused, nothing recorded
    ],
)
def test_the_level_and_the_cap_follow_each_remedys_own_amounts(
    api, compensation_approved, says_why, compensation_level
):
    case = open_major_case(api, request="refund", purchase_date="2026-11-15")
    case = apply(
        api, case, purchase_date="2026-11-15", remedy="refund", loss_amount=9000,
        injury_or_damage=True, with_compensation=True, compensation_amount=1000,
    )  # fmt: skip
    signoffs = tasks_by_remedy(api, case, "manager_approval")
    # The refund's 9,000 CNY neither caps nor raises the compensation's sign-off.
    decision = {"decision": "approve", "approved_amount": compensation_approved}
    if says_why:
        decision["comment"] = "另有医疗发票"
    if compensation_level == "refused":
        refused = decide(api, signoffs["compensation"], "chen.jie", expect=422, **decision)
        assert "approved_amount" in refused["errors"] and decisions(api, case) == []
        return
    case = decide(api, signoffs["compensation"], "chen.jie", **decision)
    gm = set(tasks_by_remedy(api, case, "general_manager_approval"))
    assert gm == ({"compensation"} if compensation_level == "general_manager" else set())
    case = decide(api, signoffs["refund"], "he.ping", decision="approve", approved_amount=8000)
    gm = tasks_by_remedy(api, case, "general_manager_approval")
    assert "refund" in gm  # the refund is over 5,000 CNY on its own
    # The general manager may not silently approve more of the refund than its manager did, even
    # though the compensation's level (or the claim) was larger.
    refused = decide(api, gm["refund"], "liu.yang", expect=422, decision="approve", approved_amount=8500)
    assert "approved_amount" in refused["errors"]
    decide(api, gm["refund"], "liu.yang", decision="approve")
    assert ("refund", "general_manager", "liu.yang", "approve", 8000) in decisions(api, case)
