"""The four handling paths of DOMAIN.md §4, reply, follow-up visit and reopen, over HTTP."""

from __future__ import annotations

from .flows import register, repair, reply, visit
from .support import start_data


def test_repair_path_from_intake_to_closure(api):
    case = api.start(start_data(request="repair"))
    assert case["data"]["handling_path"] == "quality" and case["data"]["nature"] == "valid"
    case = register(api, case)
    assert api.open_elements(case) == ["diagnose_and_repair"]
    # Handling is due by the reply deadline, so inboxes sort by it.
    assert api.open_task(case, "diagnose_and_repair")["due_at"] == case["data"]["reply_due"]
    case = repair(api, case)
    assert api.open_task(case, "reply_to_customer")["due_at"] == case["data"]["reply_due"]
    assert api.open_elements(case) == ["reply_to_customer"]
    assert case["data"]["repaired"] is True and case["data"]["parts_replaced"] == ["刹车线"]
    case = reply(api, case)
    assert api.open_elements(case) == ["follow_up_visit"]
    visit_task = api.open_task(case, "follow_up_visit")
    assert visit_task["due_at"] is not None  # within 7 days of the reply
    case = visit(api, case, satisfied=True)
    assert case["status"] == "completed" and case["tasks"] == [] and case["timers"] == []
    assert case["data"]["archived"] is True and case["data"]["reopen_count"] == 0
    types = api.event_types(case["id"])
    assert types[0] == "case_started" and types[-1] == "case_completed"
    assert types.count("task_completed") == 4


def test_external_cause_is_told_politely_that_it_is_not_a_quality_problem(api):
    case = register(api, api.start(start_data(request="repair")))
    case = repair(api, case, repaired=False, external_cause=True, external_cause_detail="电源电压不稳")
    assert case["data"]["outcome"] == "external_cause"
    assert "不属于产品质量问题" in case["data"]["reply_guidance"]
    assert api.open_elements(case) == ["reply_to_customer"]


def test_a_fault_not_yet_repaired_brings_the_technician_back(api):
    case = register(api, api.start(start_data(request="repair")))
    case = repair(api, case, repaired=False, fault_found="控制器故障，待配件")
    assert api.open_elements(case) == ["diagnose_and_repair"]
    case = repair(api, case, repaired=True, fault_found="更换控制器")
    assert api.open_elements(case) == ["reply_to_customer"]


def test_technician_finding_a_major_incident_starts_the_major_path(api):
    case = register(api, api.start(start_data(request="repair")))
    case = repair(api, case, repaired=False, major_incident=True)
    # The application, and meanwhile the owner's interim reply with the plan (DOMAIN.md §3).
    assert api.open_elements(case) == ["fill_application", "interim_reply"]


def test_service_attitude_is_investigated_with_action_and_written_notice(api):
    data = start_data(
        problem={"category": "service_attitude", "issue_code": "SVC-RUDE", "description": "服务人员态度恶劣"}
    )
    case = register(api, api.start(data))
    assert case["data"]["handling_path"] == "service" and case["data"]["content"] == "service_attitude"
    task = api.open_task(case, "investigate_service")
    assert task["candidate_group"] == "after_sales_leads"
    # A confirmed cause needs the action against the staff member and the written notice.
    incomplete = api.complete(case, "investigate_service", "zhao.min", {"cause_confirmed": True}, expect=422)
    assert set(incomplete.get_json()["errors"]) == {"staff_action", "notice_issued"}
    case = api.complete(
        case,
        "investigate_service",
        "zhao.min",
        {"cause_confirmed": True, "staff_action": "通报批评并扣减绩效", "notice_issued": True},
    )
    assert case["data"]["notice_issued"] is True
    assert api.open_elements(case) == ["reply_to_customer"]


def test_service_quality_uses_the_same_investigation(api):
    data = start_data(
        problem={"category": "service_quality", "issue_code": "SVC-SLOW", "description": "维修拖延"}
    )
    case = register(api, api.start(data))
    assert api.open_elements(case) == ["investigate_service"]


def test_inquiry_is_answered_by_the_agent(api):
    data = start_data(
        problem={"category": "inquiry", "issue_code": "Q-CHARGE", "description": "充电多久合适？"}
    )
    case = register(api, api.start(data))
    assert case["data"]["nature"] == "communicative" and case["data"]["handling_path"] == "communicative"
    case = api.complete(case, "answer_inquiry", "li.na", {"answer_summary": "建议充电6-8小时"})
    assert api.open_elements(case) == ["reply_to_customer"]


def test_technical_questions_go_to_a_technician_call_back(api):
    data = start_data(problem={"category": "help", "issue_code": "Q-TECH", "description": "仪表报错E3"})
    case = register(api, api.start(data))
    case = api.complete(
        case, "answer_inquiry", "li.na", {"answer_summary": "转技术", "technical_question": True}
    )
    task = api.open_task(case, "technician_callback")
    assert task["candidate_group"] == "technicians"
    case = api.complete(
        case,
        "technician_callback",
        "wang.qiang",
        {"technical_answer": "E3为刹车断电信号", "called_back": True},
    )
    assert api.open_elements(case) == ["reply_to_customer"]


def test_an_unsatisfied_visit_reopens_the_case_and_counts_it(api):
    # Bought long ago (outside the 三包 period), so the third visit is a repair, not an exchange.
    case = register(api, api.start(start_data(request="repair", product={"purchase_date": "2024-01-01"})))
    case = reply(api, repair(api, case))
    case = visit(api, case, satisfied=False)
    assert case["status"] == "running"
    assert case["data"]["reopen_count"] == 1
    assert api.open_elements(case) == ["diagnose_and_repair"]
    case = reply(api, repair(api, case, fault_found="刹车片磨损"))
    case = visit(api, case, satisfied=False)
    assert case["data"]["reopen_count"] == 2
    case = visit(api, reply(api, repair(api, case)), satisfied=True)
    assert case["status"] == "completed" and case["data"]["reopen_count"] == 2


def test_the_case_completes_only_after_a_reply_was_recorded(api):
    case = register(api, api.start(start_data(request="repair")))
    case = repair(api, case)
    assert case["status"] == "running"
    rejected = api.complete(case, "reply_to_customer", "li.na", {"reply_text": ""}, expect=422)
    assert "reply_text" in rejected.get_json()["errors"]
    case = visit(api, reply(api, case))
    assert case["status"] == "completed" and case["data"]["reply_text"]


def test_the_customer_calling_back_during_the_visit_creates_a_call_back_task(api):
    case = reply(api, repair(api, register(api, api.start(start_data(request="repair")))))
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/customer_called_back",
        "callcentre",
        json={"data": {"note": "客户来电询问"}},
    )
    assert response.status_code == 200
    case = response.get_json()
    assert api.open_elements(case) == ["follow_up_visit", "return_customer_call"]
    assert case["data"]["callback"] == {"note": "客户来电询问"}
    assert "message_received" in api.event_types(case["id"])
    case = api.complete(case, "return_customer_call", "li.na", {"call_note": "已回电"})
    assert api.open_elements(case) == ["follow_up_visit"]
