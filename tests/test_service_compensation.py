"""A service complaint may lead to a compensation application (DOMAIN.md §5), in the real diagrams.

A service failure that cost the customer time or money (002 原则9) can be compensated: when the
after-sales lead confirms the cause and ticks "apply for compensation" on the investigation, the
handling diagram (complaint_handling.bpmn) takes the major-incident path (interim reply with a
plan, then the compensation-only application of major_quality_incident.bpmn) before the final
reply; without the tick it replies as before. The clock is pinned so "days since sale" does not
drift.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import APPLICATION, interim_reply, register, reply, visit
from .support import ServiceClient, start_data
from .test_remedies import carry_out, decide, outcome, tasks_by_remedy
from .test_signoff_rules import customer

TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PURCHASED = "2026-10-20"
FINDINGS = {"cause_confirmed": True, "staff_action": "通报批评并扣减绩效", "notice_issued": True}


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


def service_case(api: ServiceClient, category: str, claimed: float = 450) -> dict:
    data = start_data(
        problem={"category": category, "issue_code": "SVC-LATE", "description": "师傅三次爽约，客户请假三天"},
        request="compensation", amount_claimed=claimed, customer={"id": customer()},
        product={"purchase_date": PURCHASED},
    )  # fmt: skip
    case = register(api, api.start(data))
    assert api.open_elements(case) == ["investigate_service"]
    return case


@pytest.mark.parametrize("category", ["service_attitude", "service_quality"])
def test_a_confirmed_service_failure_with_compensation_goes_through_the_application(api, category):
    case = service_case(api, category)
    case = api.complete(case, "investigate_service", "zhao.min", {**FINDINGS, "compensation_requested": True})
    # The major-incident path of the handling diagram: the application and the interim reply.
    assert sorted(api.open_elements(case)) == ["fill_application", "interim_reply"]
    fill = api.open_task(case, "fill_application")
    prefilled = api.get(f"/api/v1/tasks/{fill['id']}", "zhao.min").get_json()["data"]
    assert prefilled["remedy"] == "compensation" and prefilled["service_failure"] is True
    assert prefilled["loss_amount"] == 450
    case = interim_reply(api, case)
    case = api.complete(
        case,
        "fill_application",
        "zhao.min",
        {**APPLICATION, "purchase_date": PURCHASED, "remedy": "compensation", "loss_amount": 450},
    )
    assert case["data"]["requested_remedies"] == ["compensation"]
    assert case["data"]["policy_remedies"] == ["compensation"]  # company_policy: service failure
    signoffs = tasks_by_remedy(api, case, "manager_approval")
    assert set(signoffs) == {"compensation"}
    case = decide(api, signoffs["compensation"], "chen.jie", decision="approve")
    case = carry_out(api, tasks_by_remedy(api, case, "carry_out_remedy")["compensation"], amount_paid=450)
    assert case["data"]["remedy_outcome"] == [outcome("compensation", True, amount=450)]
    assert api.open_elements(case) == ["reply_to_customer"]
    case = visit(api, reply(api, case, text="已赔偿误工损失450元"))
    assert case["status"] == "completed"


@pytest.mark.parametrize(
    "findings",
    [
        FINDINGS,  # no compensation asked for (the default)
        {**FINDINGS, "compensation_requested": False},
        {"cause_confirmed": False, "compensation_requested": True},  # no failure, nothing to compensate
    ],
    ids=["default", "not_requested", "cause_not_confirmed"],
)
def test_a_service_complaint_without_compensation_replies_as_before(api, findings):
    case = service_case(api, "service_attitude")
    case = api.complete(case, "investigate_service", "zhao.min", findings)
    assert api.open_elements(case) == ["reply_to_customer"]
    assert "remedy_outcome" not in case["data"] or case["data"]["remedy_outcome"] == []
    case = visit(api, reply(api, case))
    assert case["status"] == "completed"
