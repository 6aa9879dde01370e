"""Issue 13's rules of DOMAIN.md, each driven through the real diagrams over HTTP.

Acknowledgement means the customer was reached (§1); an interim reply with a plan meets the reply
clock (§3); two failed repairs within 三包 lead to exchange or refund, a re-repair is never
charged (§4.3, §6); the customer can call at any stage (§4); every round keeps its record and a
communicative complaint back unsatisfied is valid from then on (§2, §4.5).
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from .flows import apply, interim_reply, register, repair, reply, visit
from .support import auth, start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)
IN_SANBAO = "2026-11-01"  # 15 days before the complaint
OUTSIDE_SANBAO = "2024-01-01"


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def escalated_clocks(case: dict) -> list[str]:
    return [e["clock"] for e in case["escalations"]]


def repair_case(api, purchase_date: str = IN_SANBAO) -> dict:
    return register(api, api.start(start_data(request="repair", product={"purchase_date": purchase_date})))


# ---- §1 acknowledgement means the customer was reached


def test_a_failed_attempt_is_recorded_and_the_acknowledgement_stays_open_with_its_clock(api, engine, clock):
    case = api.start()
    first = api.open_task(case, "register_complaint")
    refused = api.complete(case, "register_complaint", "li.na", {"customer_contacted": False}, expect=422)
    assert set(refused.get_json()["errors"]) == {"attempt_outcome"}
    clock.shift(timedelta(hours=3))
    case = api.complete(
        case,
        "register_complaint",
        "li.na",
        {"customer_contacted": False, "attempt_outcome": "no_answer", "acknowledgement_note": "无人接听"},
    )
    again = api.open_task(case, "register_complaint")
    assert api.open_elements(case) == ["register_complaint"]  # not handled before the customer is reached
    assert again["id"] != first["id"] and again["assignee"] == "li.na"
    assert again["due_at"] == first["due_at"] == "2026-11-17T10:00:00+08:00"
    assert case["data"]["contact_attempts"] == [
        {"at": "2026-11-16T13:00:00+08:00", "by": "li.na", "outcome": "no_answer", "note": "无人接听"}
    ]
    assert [t["name"] for t in case["timers"]] == ["回应超时 Acknowledgement overdue"]
    assert [t["due_at"] for t in case["timers"]] == ["2026-11-17T10:00:00+08:00"]  # the clock keeps running

    clock.shift(timedelta(hours=21) + SECOND)
    assert engine.timers.fire_due() == 1
    after = api.case(case["id"])
    assert escalated_clocks(after) == ["acknowledge"]
    assert api.open_elements(after) == ["chase_acknowledgement", "register_complaint"]

    after = api.complete(
        after, "register_complaint", "li.na", {"customer_contacted": False, "attempt_outcome": "busy"}
    )
    assert len(after["data"]["contact_attempts"]) == 2
    after = register(api, after)
    assert "diagnose_and_repair" in api.open_elements(after)
    assert escalated_clocks(api.case(case["id"])) == ["acknowledge"]  # the late clock fired once


def test_reaching_the_customer_first_time_stops_the_acknowledgement_clock(api, engine, clock):
    case = register(api, api.start())
    assert case["data"]["contact_attempts"] == []
    clock.shift(timedelta(hours=25))
    engine.timers.fire_due()
    assert "acknowledge" not in escalated_clocks(api.case(case["id"]))


# ---- §3 a reply within the deadline, with a plan


def _major_case(api) -> dict:
    case = register(api, api.start(start_data(request="exchange", product={"purchase_date": IN_SANBAO})))
    assert api.open_elements(case) == ["fill_application", "interim_reply"]
    return case


def test_the_interim_reply_names_the_steps_and_when_and_meets_the_reply_clock(api, engine, clock):
    case = _major_case(api)
    task = api.open_task(case, "interim_reply")
    assert task["assignee"] == "li.na" and task["due_at"] == "2026-11-18T10:00:00+08:00"
    refused = api.complete(case, "interim_reply", "li.na", {"interim_reply_text": "正在处理"}, expect=422)
    assert set(refused.get_json()["errors"]) == {"plan_steps", "plan_due"}
    clock.shift(timedelta(hours=20))
    case = interim_reply(api, case)
    case = apply(api, case, remedy="exchange", same_fault_repairs=2, still_unusable=True)
    assert api.open_elements(case) == ["manager_approval"]
    clock.shift(timedelta(hours=29))  # past the reply deadline, the sign-off still pending
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "reply" not in escalated_clocks(after)
    assert "chase_reply" not in api.open_elements(after)
    # The final reply follows the outcome.
    after = api.decide(after, "manager_approval", "chen.jie", decision="approve", comment="同意换车")
    after = api.complete(
        after, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "new_serial": "SN9"}
    )
    assert "reply_to_customer" in api.open_elements(after)
    after = visit(api, reply(api, after, text="已为您换车"))
    record = after["data"]["rounds"][0]
    assert record["interim_reply"]["steps"] == ["填写重大质量事故申请", "领导审批", "换车或退车"]
    assert record["interim_reply"]["at"] == "2026-11-17T06:00:00+08:00"
    assert record["reply"]["text"] == "已为您换车"


def test_without_the_interim_reply_the_major_path_breaches_the_reply_clock(api, engine, clock):
    case = apply(api, _major_case(api), remedy="exchange", same_fault_repairs=2, still_unusable=True)
    clock.shift(timedelta(hours=48) + SECOND)
    engine.timers.fire_due()
    after = api.case(case["id"])
    assert "reply" in escalated_clocks(after)
    assert "chase_reply" in api.open_elements(after)


# ---- §4.3 and §6: two failed repairs, and re-repairs are free


def test_still_failing_after_two_repairs_within_sanbao_goes_to_exchange_or_refund(api, clock):
    case = repair_case(api)
    case = repair(api, case, repaired=False, fault_found="控制器故障")
    assert api.open_elements(case) == ["diagnose_and_repair"]
    assert case["data"]["same_fault_repairs"] == 1 and case["data"]["repeat_repair_step"] == "repair"
    case = repair(api, case, repaired=False, fault_found="控制器仍故障")
    # No third visit: the major-incident path, with exchange or refund on offer.
    assert api.open_elements(case) == ["fill_application", "interim_reply"]
    assert case["data"]["same_fault_repairs"] == 2
    assert case["data"]["remedies_on_offer"] == ["exchange", "refund"]
    assert [r["fault_found"] for r in case["data"]["repairs"]] == ["控制器故障", "控制器仍故障"]


def test_the_application_after_two_failed_repairs_is_prefilled_from_the_repairs(api, clock):
    """The major-incident path reads what the repair path offers: the remedies on offer and the count.

    The applicant neither types the repair count again nor picks a remedy the case already names;
    what they leave out stands as the case recorded it, and the legal floor decides on it.
    """
    case = repair_case(api)  # the customer asked for a repair
    case = repair(api, case, repaired=False, fault_found="控制器故障")
    case = repair(api, case, repaired=False, fault_found="控制器仍故障")
    fill = api.open_task(case, "fill_application")
    prefilled = api.get(f"/api/v1/tasks/{fill['id']}", "zhao.min").get_json()["data"]
    assert prefilled["remedies_on_offer"] == ["exchange", "refund"]
    assert prefilled["remedy"] == "exchange"  # the first on offer, until the customer chooses
    assert prefilled["same_fault_repairs"] == 2
    form = {
        "remedy": "refund",  # the customer chose a refund
        "purchase_date": IN_SANBAO,
        "cumulative_repair_days": 3,
        "battery_faulty": False,
        "injury_or_damage": False,
        "loss_amount": 2999,
    }  # no `same_fault_repairs`: the two repairs counted on the case stand
    case = api.complete(case, "fill_application", "zhao.min", form)
    assert case["data"]["same_fault_repairs"] == 2
    assert {"exchange", "refund"} <= set(case["data"]["legal_remedies"])  # rule_two_repairs
    assert case["data"]["requested_remedies"] == ["refund"]
    assert "manager_approval" in api.open_elements(case)


@pytest.mark.parametrize("repairs", [-1, 1.5, "2", None])
def test_a_bad_repair_count_on_the_application_is_refused_and_changes_nothing(api, clock, repairs):
    case = repair_case(api)
    case = repair(api, repair(api, case, repaired=False), repaired=False)
    form = {
        "remedy": "exchange", "purchase_date": IN_SANBAO, "same_fault_repairs": repairs,
        "cumulative_repair_days": 0, "battery_faulty": False, "injury_or_damage": False, "loss_amount": 0,
    }  # fmt: skip
    refused = api.complete(case, "fill_application", "zhao.min", form, expect=422).get_json()
    assert "same_fault_repairs" in refused["errors"]
    after = api.case(case["id"])
    assert after["data"]["same_fault_repairs"] == 2 and "fill_application" in api.open_elements(after)


def test_back_unsatisfied_after_two_repairs_within_sanbao_goes_to_exchange_or_refund(api, clock):
    case = visit(api, reply(api, repair(api, repair_case(api))), satisfied=False)
    assert api.open_elements(case) == ["diagnose_and_repair"]  # one repair so far: a second visit
    case = visit(api, reply(api, repair(api, case, fault_found="刹车线再次松动")), satisfied=False)
    assert case["data"]["reopen_count"] == 2 and case["data"]["handling_path"] == "major"
    assert api.open_elements(case) == ["fill_application", "interim_reply"]
    assert case["data"]["remedies_on_offer"] == ["exchange", "refund"]


def test_outside_sanbao_the_technician_comes_back_and_only_the_first_repair_is_charged(api, clock):
    case = repair_case(api, purchase_date=OUTSIDE_SANBAO)
    assert case["data"]["within_sanbao"] is False
    case = repair(api, case, repaired=False, charge_quote=300)
    case = repair(api, case, repaired=False, charge_quote=300)
    assert api.open_elements(case) == ["diagnose_and_repair"]  # paid repair: a third visit
    case = repair(api, case, repaired=True, charge_quote=300)
    charges = [(r["charge_policy"], r["charge"]) for r in case["data"]["repairs"]]
    assert charges == [("paid", 300), ("free", 0), ("free", 0)]  # a re-repair is never charged


@pytest.mark.parametrize(
    ("purchase_date", "changes", "expected"),
    [
        (IN_SANBAO, {}, ("free", 0)),
        (IN_SANBAO, {"external_cause": True, "external_cause_detail": "电压不稳"}, ("paid", 120)),
        (OUTSIDE_SANBAO, {}, ("paid", 120)),
        (OUTSIDE_SANBAO, {"external_cause": True, "external_cause_detail": "进水"}, ("paid", 120)),
    ],
)
def test_who_pays_for_a_first_repair(api, clock, purchase_date, changes, expected):
    case = repair(api, repair_case(api, purchase_date), charge_quote=120, **changes)
    last = case["data"]["repairs"][-1]
    assert (last["charge_policy"], last["charge"]) == expected and last["by"] == "wang.qiang"


def test_a_re_repair_in_a_later_round_is_free_whatever_the_first_cost(api, clock):
    case = repair_case(api, purchase_date=OUTSIDE_SANBAO)
    case = visit(api, reply(api, repair(api, case, charge_quote=500)), satisfied=False)
    case = repair(api, case, charge_quote=500)
    assert [r["charge"] for r in case["data"]["repairs"]] == [500, 0]


# ---- §4 the customer can call at any stage


def _call(api, case, user="li.na", expect=201, **body):
    response = api.post(
        f"/api/v1/cases/{case['id']}/contacts",
        user,
        json={
            k: v
            for k, v in {"reason": "ask_progress", "note": "客户询问技术员何时上门", **body}.items()
            if v is not None
        },
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def test_a_call_during_the_repair_is_recorded_and_the_owner_calls_back(api, clock):
    case = repair_case(api)
    assert api.open_elements(case) == ["diagnose_and_repair"]
    case = _call(api, case, user="callcentre")
    callback = api.open_task(case, "return_contact_call")
    assert callback["assignee"] == "li.na"  # the first-contact owner, not the caller's agent
    assert api.open_elements(case) == ["diagnose_and_repair", "return_contact_call"]
    detail = api.get(f"/api/v1/tasks/{callback['id']}", "li.na").get_json()["data"]["contact"]
    assert detail["reason"] == "ask_progress" and detail["recorded_by"] == "callcentre"
    recorded = [e for e in api.events(case["id"]) if e["type"] == "contact_recorded"]
    assert len(recorded) == 1 and recorded[0]["detail"]["note"] == "客户询问技术员何时上门"
    # A second call while the first is not yet returned: a second call-back.
    case = _call(api, case, reason="missed_call", note="未接来电")
    assert api.open_elements(case).count("return_contact_call") == 2
    case = api.complete(case, "return_contact_call", "li.na", {"call_note": "已告知明天上午上门"})
    case = api.complete(case, "return_contact_call", "li.na", {"call_note": "已回电"})
    assert api.open_elements(case) == ["diagnose_and_repair"]
    case = visit(api, reply(api, repair(api, case)))
    assert case["status"] == "completed"


def test_a_call_before_registration_and_during_the_visit_window_also_gets_a_call_back(api, clock):
    case = api.start()
    case = _call(api, case, reason="add_information", note="补充：购买发票已找到")
    assert api.open_elements(case) == ["register_complaint", "return_contact_call"]
    case = reply(api, repair(api, register(api, case)))
    case = _call(api, case, reason="complain_again", note="又坏了")
    assert "return_contact_call" in api.open_elements(case) and "follow_up_visit" in api.open_elements(case)


def test_an_outbound_contact_is_recorded_without_a_call_back(api, clock):
    case = repair_case(api)
    case = _call(api, case, direction="outbound", reached=False, note="回访电话无人接听", reason=None)
    assert api.open_elements(case) == ["diagnose_and_repair"]
    [recorded] = [e for e in api.events(case["id"]) if e["type"] == "contact_recorded"]
    assert recorded["detail"]["direction"] == "outbound" and recorded["detail"]["reached"] is False
    # A missed inbound call is called back too.
    case = _call(api, case, reached=False, reason="missed_call", note="未接来电")
    assert api.open_task(case, "return_contact_call")["assignee"] == "li.na"


def test_bad_or_misplaced_calls_are_refused_and_change_nothing(api, clock):
    case = repair_case(api)
    before = len(api.events(case["id"]))
    assert _call(api, case, expect=422, reason="shouting")["status"] == 422
    assert _call(api, case, expect=422, direction="sideways")["status"] == 422
    assert _call(api, case, expect=422, note="")["status"] == 422
    assert _call(api, case, user="wang.qiang", expect=403)["status"] == 403
    assert len(api.events(case["id"])) == before
    done = visit(api, reply(api, repair(api, case)))
    assert _call(api, done, expect=409)["status"] == 409
    assert (
        api.post(
            "/api/v1/cases/no-such-case/contacts", "li.na", json={"reason": "other", "note": "x"}
        ).status_code
        == 404
    )


# ---- §2 and §4.5: every round keeps its record; communicative back unsatisfied is valid


def test_each_round_keeps_its_own_repair_record_reply_and_visit(api, clock):
    case = repair_case(api, purchase_date=OUTSIDE_SANBAO)
    case = visit(
        api, reply(api, repair(api, case, fault_found="刹车线松动"), text="已修好刹车线"), satisfied=False
    )
    clock.shift(timedelta(days=1))
    case = repair(api, case, fault_found="刹车片磨损", parts_replaced=["刹车片"])
    case = visit(api, reply(api, case, text="已更换刹车片"), satisfied=True)
    rounds = api.case(case["id"])["data"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert [r["reply"]["text"] for r in rounds] == ["已修好刹车线", "已更换刹车片"]
    assert [r["visit"]["satisfied"] for r in rounds] == [False, True]
    assert [[rep["fault_found"] for rep in r["repairs"]] for r in rounds] == [["刹车线松动"], ["刹车片磨损"]]
    assert rounds[0]["reply"]["at"] == "2026-11-16T10:00:00+08:00"
    assert rounds[1]["reply"]["at"] == "2026-11-17T10:00:00+08:00"


def test_a_communicative_complaint_back_unsatisfied_is_valid_from_then_on(api, clock):
    data = start_data(
        problem={"category": "inquiry", "issue_code": "Q-CHARGE", "description": "充电多久合适？"}
    )
    case = register(api, api.start(data))
    assert case["data"]["nature"] == "communicative"
    case = api.complete(case, "answer_inquiry", "li.na", {"answer_summary": "建议充电6-8小时"})
    case = visit(api, reply(api, case), satisfied=False)
    assert case["data"]["nature"] == "valid" and case["data"]["handling_path"] == "service"
    assert api.open_elements(case) == ["investigate_service"]
    case = api.complete(case, "investigate_service", "zhao.min", {"cause_confirmed": False})
    case = visit(api, reply(api, case))
    rounds = case["data"]["rounds"]
    assert [(r["nature"], r["handling_path"]) for r in rounds] == [
        ("communicative", "communicative"),
        ("valid", "service"),
    ]
    assert rounds[0]["answer_summary"] == "建议充电6-8小时"


def test_an_interim_reply_sent_after_the_outcome_keeps_the_outcome(api, clock):
    """The two branches join before the final reply; the late interim branch must not undo the remedy."""
    case = apply(api, _major_case(api), remedy="exchange", same_fault_repairs=2, still_unusable=True)
    case = api.decide(case, "manager_approval", "chen.jie", decision="approve", comment="同意换车")
    case = api.complete(
        case, "carry_out_remedy", "zhao.min", {"remedy_carried_out": True, "new_serial": "SN9"}
    )
    assert api.open_elements(case) == ["interim_reply"]  # the final reply waits for the plan
    case = interim_reply(api, case)
    assert api.open_elements(case) == ["reply_to_customer"]
    case = visit(api, reply(api, case))
    record = case["data"]["rounds"][0]
    [outcome] = record["remedy_outcome"]  # one entry per remedy asked for
    assert outcome["remedy"] == "exchange" and outcome["approved"] is True
    assert record["interim_reply"]["text"] and case["data"]["remedy_outcome"][0]["approved"] is True


# ---- §2 upgraded, or leadership attention, while the case is open


def _upgrade(api, case, kind: str, user: str = "sun.li", note: str = "集团领导批示跟进") -> dict:
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/complaint_upgraded",
        user,
        json={"data": {"kind": kind, "note": note}},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_leadership_attention_during_the_repair_makes_the_case_urgent_and_major_on_the_spot(
    api, engine, clock
):
    case = repair_case(api)
    assert case["priority"] == "ordinary" and case["data"]["reply_due"] == "2026-11-18T10:00:00+08:00"
    clock.shift(timedelta(hours=3))
    case = _upgrade(api, case, "leadership_attention")
    assert case["priority"] == "urgent" and case["data"]["urgent_kinds"] == ["major"]
    assert case["data"]["flags"]["leadership_attention"] is True
    assert case["data"]["reply_due"] == "2026-11-17T10:00:00+08:00"  # 24 h from receipt, not 48
    assert case["data"]["upgrades"] == [
        {"kind": "leadership_attention", "note": "集团领导批示跟进", "at": "2026-11-16T13:00:00+08:00"}
    ]
    timers = {t["name"]: t["due_at"] for t in case["timers"]}
    assert timers["答复超时 Reply deadline passed"] == "2026-11-17T10:00:00+08:00"  # the running clock moved
    inbox = api.get("/api/v1/tasks?per_page=200", "wang.qiang").get_json()["items"]
    assert [t["element_id"] for t in inbox if t["case_id"] == case["id"]] == ["diagnose_and_repair"]
    # The next steps keep the new classification: it is not undone by the branch that was waiting.
    case = repair(api, case)
    assert case["priority"] == "urgent" and case["data"]["urgent_kinds"] == ["major"]
    clock.shift(timedelta(hours=21) + SECOND)
    engine.timers.fire_due()
    assert "reply" in escalated_clocks(api.case(case["id"]))  # breached at the new, shorter deadline


def test_an_upgrade_before_acknowledgement_shortens_the_acknowledgement_clock(api, engine, clock):
    case = api.start()
    clock.shift(timedelta(hours=1))
    case = _upgrade(api, case, "upgraded", user="callcentre", note="分公司升级")
    assert case["priority"] == "urgent" and case["data"]["urgent_kinds"] == ["upgraded"]
    assert [t["due_at"] for t in case["timers"]] == ["2026-11-16T12:00:00+08:00"]
    assert api.open_task(case, "register_complaint")["due_at"] == "2026-11-16T12:00:00+08:00"  # the inbox too
    clock.shift(timedelta(hours=1) + SECOND)
    engine.timers.fire_due()
    assert escalated_clocks(api.case(case["id"])) == ["acknowledge"]
    # Then leadership attention too: both kinds stay.
    case = _upgrade(api, api.case(case["id"]), "leadership_attention")
    assert case["data"]["urgent_kinds"] == ["major", "upgraded"]
    assert [u["kind"] for u in case["data"]["upgrades"]] == ["upgraded", "leadership_attention"]


def test_a_closed_case_takes_no_upgrade(api, clock):
    case = visit(api, reply(api, repair(api, repair_case(api))))
    response = api.post(
        f"/api/v1/cases/{case['id']}/messages/complaint_upgraded",
        "sun.li",
        json={"data": {"kind": "upgraded"}},
    )
    assert response.status_code == 409


# ---- §1 suggested wording, returned with the task


def _wording(api, case: dict, element_id: str, user: str = "li.na") -> dict[str, str]:
    task = api.open_task(case, element_id)
    form = api.get(f"/api/v1/tasks/{task['id']}", user).get_json()["form"]
    return {w["moment"]: w["text"] for w in form["ui_schema"]["ui:options"]["suggested_wording"]}


def test_each_task_returns_the_wording_for_its_moment(api, clock):
    case = api.start()
    register_words = _wording(api, case, "register_complaint")
    assert {"greeting", "angry_caller", "quality_fault", "call_back", "closing"} <= set(register_words)
    assert register_words["greeting"].startswith("您好")
    assert "您的心情我理解" in register_words["angry_caller"]
    case = _call(api, case)
    assert "visit_time" in _wording(api, case, "return_contact_call")
    case = repair(api, register(api, case), repaired=False, external_cause=True, external_cause_detail="电压")
    reply_words = _wording(api, case, "reply_to_customer")
    assert "不属于产品的质量问题" in reply_words["external_cause"] and "再见" in reply_words["closing"]
    assert set(_wording(api, reply(api, case), "follow_up_visit")) == {"greeting", "dissatisfied", "closing"}


def test_the_wording_is_process_data_a_process_owner_deploys(api, clock):
    path = Path(__file__).resolve().parents[1] / "forms" / "register-complaint.uischema.json"
    ui = json.loads(path.read_text(encoding="utf-8"))
    ui["ui:options"]["suggested_wording"][0]["text"] = "您好，东区服务中心为您服务。"
    response = api.client.post(
        "/api/v1/deployments",
        data={"file": (io.BytesIO(json.dumps(ui, ensure_ascii=False).encode()), path.name)},
        headers=auth("zhou.hao"),
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 201), response.get_json()
    case = api.start()
    assert _wording(api, case, "register_complaint")["greeting"] == "您好，东区服务中心为您服务。"


# ---- §2 urgent complaints get a dedicated owner, chosen by a table


def test_an_urgent_complaint_from_the_call_centre_gets_a_named_owner_not_the_queue(api, clock):
    urgent = api.start(start_data(flags={"cross_region": True}), user="callcentre")
    ordinary = api.start(start_data(customer={"id": "C-2"}), user="callcentre")
    assert api.open_task(urgent, "register_complaint")["assignee"] == "li.na"
    assert urgent["data"]["dedicated_owner"] == "li.na" and urgent["data"]["received_by"] == "callcentre"
    assert api.open_task(ordinary, "register_complaint")["assignee"] is None  # the agents' queue
    assert ordinary["data"]["dedicated_owner"] is None


def test_a_process_owner_changes_who_follows_urgent_complaints(api, clock):
    path = Path(__file__).resolve().parents[1] / "processes" / "urgent_owner.dmn"
    table = path.read_text(encoding="utf-8").replace(
        '<outputEntry id="rule_owner_major_over_level_out_1"><text>"li.na"</text>',
        '<outputEntry id="rule_owner_major_over_level_out_1"><text>"wu.fang"</text>',
    )
    response = api.client.post(
        "/api/v1/deployments",
        data={"file": (io.BytesIO(table.encode()), path.name)},
        headers=auth("zhou.hao"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    major = api.start(start_data(channel="media", request="exchange"))
    other = api.start(start_data(customer={"id": "C-3", "tier": "important"}))
    assert api.open_task(major, "register_complaint")["assignee"] == "wu.fang"
    assert major["data"]["received_by"] == "li.na"  # who took it stays on record
    assert api.open_task(other, "register_complaint")["assignee"] == "li.na"
    # The dedicated owner works the case's owner tasks from then on.
    major = api.complete(major, "register_complaint", "wu.fang", {"customer_contacted": True})
    assert api.open_task(major, "fill_application")["candidate_group"] == "after_sales_leads"
    assert api.open_task(major, "interim_reply")["assignee"] == "wu.fang"


def test_the_case_data_shows_the_latest_call_whatever_changed_inside_it(api, engine, clock):
    """Each call replaces `contact` in the case data, and every field of it, not only new ones.

    The case data is merged from what the workflow did; a change nested inside a key the case
    already had (the second call's note in `contact`) was once merged into the very dicts the
    ORM kept as "loaded", so its flush saw nothing changed and kept the first call's. It showed
    where the case view asks the database something mid-act (here: an escalated case's
    escalations).
    """
    case = api.start()
    clock.shift(timedelta(hours=24, seconds=1))  # the acknowledgement deadline passes
    assert engine.timers.fire_due() == 1
    case = api.complete(api.case(case["id"]), "chase_acknowledgement", "sun.li", {"action_taken": "电话督办"})
    assert api.case(case["id"])["escalations"]
    case = register(api, case)
    for note in ("第一次来电", "第二次来电", "第三次来电"):
        case = _call(api, case, note=note)
        assert api.case(case["id"])["data"]["contact"]["note"] == note
        case = api.complete(case, "return_contact_call", "li.na", {"call_note": "已回电"})
        assert api.case(case["id"])["data"]["contact"]["note"] == note
