"""Steps of the shipped complaint process, as the right users take them over HTTP."""

from __future__ import annotations

from typing import Any

from .support import ServiceClient

APPLICATION: dict[str, Any] = {
    "remedy": "exchange",
    "purchase_date": "2026-08-01",
    "same_fault_repairs": 0,
    "cumulative_repair_days": 0,
    "battery_faulty": False,
    "injury_or_damage": False,
    "loss_amount": 0,
}


def register(api: ServiceClient, case: dict, user: str = "li.na") -> dict:
    return api.complete(case, "register_complaint", user, {"customer_contacted": True})


def reply(api: ServiceClient, case: dict, user: str = "li.na", text: str = "已处理，感谢您的耐心") -> dict:
    return api.complete(case, "reply_to_customer", user, {"reply_text": text})


def visit(api: ServiceClient, case: dict, satisfied: bool = True, user: str = "li.na") -> dict:
    return api.complete(
        case, "follow_up_visit", user, {"satisfied": satisfied, "satisfaction": 5 if satisfied else 2}
    )


def apply(api: ServiceClient, case: dict, user: str = "zhao.min", **changes: Any) -> dict:
    return api.complete(case, "fill_application", user, {**APPLICATION, **changes})


def repair(api: ServiceClient, case: dict, user: str = "wang.qiang", **changes: Any) -> dict:
    record = {"fault_found": "刹车线松动", "parts_replaced": ["刹车线"], "repaired": True, **changes}
    return api.complete(case, "diagnose_and_repair", user, record)


PLAN: dict[str, Any] = {
    "interim_reply_text": "您的申请已提交，我们将在审批后答复处理结果",
    "plan_steps": ["填写重大质量事故申请", "领导审批", "换车或退车"],
    "plan_due": "2026-12-10",
}


def interim_reply(api: ServiceClient, case: dict, user: str = "li.na", **changes: Any) -> dict:
    """The owner's interim reply naming the steps and when (major-incident path)."""
    return api.complete(case, "interim_reply", user, {**PLAN, **changes})


def upgrade(api: ServiceClient, case: dict, kind: str = "upgraded") -> dict:
    """The branch office upgrades the complaint (message `complaint_upgraded`), as a supervisor."""
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/complaint_upgraded",
        "sun.li",
        json={"data": {"kind": kind, "note": "分公司升级"}},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()
