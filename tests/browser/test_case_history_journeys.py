"""Issue 13's capabilities in the workbench, each a journey in real headless Chromium against the
real service over HTTP, checked on the screen and in the service's own records.

Recording a call on the case page (an inbound call gives the owner a call-back task, which the
owner finds in the inbox and completes); every round of a reopened case on the case page; the
suggested wording of a form's UI schema beside the task form; and each remedy of one application
decided and shown on its own (sign-off screen and case page).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from ..conftest import ROOT
from ..flows import APPLICATION, register, repair, reply, visit
from ..support import start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")


def contact_events(api, case_id: str) -> list[dict]:
    return [e for e in api.events(case_id) if e["type"] == "contact_recorded"]


def test_an_owner_records_a_call_during_a_repair_and_calls_the_customer_back(person, api):
    case = register(api, api.start(start_data(request="repair")))
    assert api.open_elements(case) == ["diagnose_and_repair"]  # the case waits for the technician
    agent = person("li.na", phone=True)
    agent.sign_in(f"/cases/{case['id']}")
    page = agent.page
    panel = page.get_by_test_id("record-contact")
    panel.locator("summary").click()
    panel.get_by_label("原因 Reason").select_option("ask_progress")
    panel.get_by_role("button", name="记录 Record").click()
    # No note: refused at the field, and nothing is recorded.
    expect(panel.locator("label:has([name=note]) .field-error")).to_contain_text("请填写通话内容")
    assert contact_events(api, case["id"]) == []

    # A note longer than the service takes: the service's own refusal, at the field; nothing recorded.
    panel.get_by_label("通话内容 Note").fill("长" * 4001)
    panel.get_by_role("button", name="记录 Record").click()
    expect(panel.get_by_role("status")).to_contain_text("输入有误")
    expect(panel.locator("label:has([name=note]) .field-error")).to_be_visible()
    assert contact_events(api, case["id"]) == []
    assert api.open_elements(api.case(case["id"])) == ["diagnose_and_repair"]

    panel.get_by_label("通话内容 Note").fill("客户来电询问技术员何时上门")
    panel.get_by_role("button", name="记录 Record").click()
    expect(panel.get_by_role("status")).to_contain_text("已记录来电")
    tasks = page.locator(".card", has_text="当前任务 Current tasks")
    expect(tasks.get_by_role("link", name="回电客户 Call the customer back")).to_be_visible()
    expect(page.locator("ol.timeline")).to_contain_text(
        "来电/去电 Call recorded 来电 inbound · 已接通 reached · 客户来电询问技术员何时上门"
    )
    agent.no_sideways_scroll()
    panel.scroll_into_view_if_needed()
    agent.screenshot("record-call-phone")
    [recorded] = contact_events(api, case["id"])
    assert recorded["actor"] == "li.na"
    detail = recorded["detail"]
    assert (detail["direction"], detail["channel"], detail["reached"], detail["reason"], detail["note"]) == (
        "inbound", "phone", True, "ask_progress", "客户来电询问技术员何时上门",
    )  # fmt: skip
    now = api.case(case["id"])
    assert sorted(api.open_elements(now)) == ["diagnose_and_repair", "return_contact_call"]
    call_back = api.open_task(now, "return_contact_call")
    assert call_back["assignee"] == "li.na"  # the first-contact owner, not a queue

    # The owner finds the call-back in the inbox, sees the call and the wording, and completes it.
    page.goto(agent.url("/"))
    row = page.locator("[data-testid=inbox] li", has_text=case["business_key"])
    row.get_by_role("link", name="回电客户 Call the customer back").click()
    page.wait_for_url(re.compile(rf"/tasks/{call_back['id']}$"))
    expect(page.get_by_test_id("contact")).to_contain_text("客户来电询问技术员何时上门")
    expect(page.get_by_test_id("contact")).to_contain_text("询问进度")
    expect(page.locator("aside.wording [data-moment=visit_time]")).to_contain_text("请稍等")
    page.fill("#root_call_note", "已回电：技术员明天上午上门")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    expect(page.locator(".ok")).to_contain_text("回电客户")
    agent.no_sideways_scroll()
    after = api.case(case["id"])
    assert api.open_elements(after) == ["diagnose_and_repair"]  # the repair still waits, untouched
    assert after["data"]["call_note"] == "已回电：技术员明天上午上门"
    completed = [e for e in api.events(case["id"]) if e["type"] == "task_completed"]
    assert completed[-1]["task_id"] == call_back["id"] and completed[-1]["actor"] == "li.na"

    # An outbound call that did not get through is only recorded: no new call-back task.
    panel = page.get_by_test_id("record-contact")
    panel.locator("summary").click()
    panel.get_by_label("我方去电 Outbound").check()
    panel.get_by_label("未接通 Not reached").check()
    panel.get_by_label("通话内容 Note").fill("回访未接通")
    panel.get_by_role("button", name="记录 Record").click()
    expect(panel.get_by_role("status")).to_have_text("已记录 Call recorded")
    outbound = contact_events(api, case["id"])[-1]["detail"]
    assert (outbound["direction"], outbound["reached"]) == ("outbound", False)
    assert api.open_elements(api.case(case["id"])) == ["diagnose_and_repair"]


def test_a_case_reopened_once_shows_round_one_and_round_two(person, api):
    case = register(api, api.start(start_data(request="repair", product={"purchase_date": "2024-01-01"})))
    case = repair(api, case, fault_found="刹车线松动")
    case = visit(api, reply(api, case, text="已修好刹车线"), satisfied=False)
    case = repair(api, case, fault_found="刹车片磨损", parts_replaced=["刹车片"])

    # Mid-way through round 2: round 1 is kept whole, and round 2's repair shows as in progress.
    agent = person("li.na")
    agent.sign_in(f"/cases/{case['id']}")
    page = agent.page
    history = page.get_by_test_id("rounds")
    expect(history.locator("article.round")).to_have_count(2)
    expect(history.locator("[data-round='1']")).to_contain_text("已修好刹车线")
    expect(history.locator("[data-round='2'] h3")).to_contain_text("进行中 In progress")
    expect(history.locator("[data-round='2']")).to_contain_text("刹车片磨损")

    case = visit(api, reply(api, case, text="已更换刹车片"), satisfied=True)
    rounds = api.case(case["id"])["data"]["rounds"]
    assert [(r["round"], r["reply"]["text"], r["visit"]["satisfied"]) for r in rounds] == [
        (1, "已修好刹车线", False),
        (2, "已更换刹车片", True),
    ]
    page.reload()
    history = page.get_by_test_id("rounds")
    expect(history.locator("article.round")).to_have_count(2)
    first, second = history.locator("[data-round='1']"), history.locator("[data-round='2']")
    expect(first.locator("h3")).to_contain_text("第1轮 Round 1")
    expect(first).to_contain_text("刹车线松动")
    expect(first).to_contain_text("已修好刹车线")
    expect(first).to_contain_text("不满意 Not satisfied")
    expect(first).not_to_contain_text("刹车片磨损")
    expect(second.locator("h3")).to_contain_text("第2轮 Round 2")
    expect(second.locator("h3")).not_to_contain_text("进行中")
    expect(second).to_contain_text("刹车片磨损")
    expect(second).to_contain_text("更换 刹车片")
    expect(second).to_contain_text("已更换刹车片")
    expect(second).to_contain_text("满意 Satisfied")
    expect(second).not_to_contain_text("已修好刹车线")
    # The repair numbers count across rounds, as the case's repair record does.
    visits = [r["visit"] for r in api.case(case["id"])["data"]["repairs"]]
    assert visits == [1, 2]
    expect(first).to_contain_text("第1次维修")
    expect(second).to_contain_text("第2次维修")
    history.scroll_into_view_if_needed()
    agent.screenshot("case-rounds")

    phone = person("li.na", phone=True)
    phone.sign_in(f"/cases/{case['id']}")
    expect(phone.page.get_by_test_id("rounds").locator("article.round")).to_have_count(2)
    phone.no_sideways_scroll()
    phone.page.get_by_test_id("rounds").scroll_into_view_if_needed()
    phone.screenshot("case-rounds-phone")


def test_the_register_task_shows_the_suggested_greeting_beside_the_form(person, api):
    case = api.start(start_data())
    task = api.open_task(case, "register_complaint")
    served = api.get(f"/api/v1/tasks/{task['id']}", "li.na").get_json()["form"]["ui_schema"]
    on_disk = json.loads((ROOT / "forms" / "register-complaint.uischema.json").read_text(encoding="utf-8"))
    assert served["ui:options"]["suggested_wording"] == on_disk["ui:options"]["suggested_wording"]
    greeting = next(p for p in on_disk["ui:options"]["suggested_wording"] if p["moment"] == "greeting")

    agent = person("li.na")
    agent.sign_in(f"/tasks/{task['id']}")
    page = agent.page
    wording = page.get_by_test_id("suggested-wording")
    expect(wording.locator("[data-moment=greeting]")).to_contain_text(greeting["title"])
    expect(wording.locator("[data-moment=greeting]")).to_contain_text(greeting["text"])
    expect(wording.locator("[data-moment]")).to_have_count(len(on_disk["ui:options"]["suggested_wording"]))
    expect(page.locator("aside.wording")).to_contain_text("首问负责")  # the BPMN documentation stays
    # The wording is beside the form, not inside it: rjsf renders the fields and nothing extra.
    expect(page.locator("form.rjsf")).not_to_contain_text("您好，售后服务中心")
    agent.screenshot("task-wording")

    page.locator("#root_customer_contacted-0").check()  # 是 Yes
    page.fill("#root_acknowledgement_note", "已按话术问候并告知处理时限")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    done = api.case(case["id"])
    assert done["data"]["acknowledgement_note"] == "已按话术问候并告知处理时限"
    assert "register_complaint" not in api.open_elements(done)


def test_each_remedy_of_one_application_is_decided_and_shown_on_its_own(person, api):
    bought = (datetime.now(SHANGHAI) - timedelta(days=31)).date().isoformat()
    case = register(api, api.start(start_data(request="exchange", product={"purchase_date": bought})))
    application = {
        **APPLICATION, "purchase_date": bought, "remedy": "exchange", "same_fault_repairs": 2,
        "still_unusable": True, "injury_or_damage": True, "with_compensation": True,
        "compensation_amount": 1200,
    }  # fmt: skip
    case = api.complete(case, "fill_application", "zhao.min", application)
    assert case["data"]["requested_remedies"] == ["exchange", "compensation"]
    signoffs = {}
    for task in case["tasks"]:
        if task["element_id"] == "manager_approval":
            signoffs[api.get(f"/api/v1/tasks/{task['id']}", "sun.li").get_json()["data"]["remedy"]] = task
    assert set(signoffs) == {"exchange", "compensation"}
    refused = api.post(
        f"/api/v1/approvals/{signoffs['compensation']['id']}",
        "chen.jie",
        json={"decision": "reject", "comment": "损失凭证不足"},
    )
    assert refused.status_code == 200, refused.get_json()

    manager = person("he.ping", phone=True)
    manager.sign_in(f"/approvals/{signoffs['exchange']['id']}")
    page = manager.page
    expect(page.get_by_test_id("signoff-remedy")).to_have_text("换货 Exchange")
    expect(page.get_by_text("每项分别审批")).to_be_visible()
    decided = page.get_by_test_id("decisions")
    expect(decided).to_have_count(1)  # only the other remedy's decision so far
    expect(decided).to_contain_text("赔偿 Compensation")
    expect(decided).to_contain_text("驳回 Rejected")
    expect(decided).to_contain_text("损失凭证不足")
    expect(page.get_by_test_id("remedies").locator("li.chosen").first).to_contain_text("换货 Exchange")
    page.get_by_label("批准 Approve").check()
    page.get_by_label(re.compile("意见")).fill("同意换车")
    manager.no_sideways_scroll()
    page.get_by_test_id("signoff-remedy").evaluate("e => e.scrollIntoView({block: 'start'})")
    manager.screenshot("sign-off-two-remedies-phone")
    page.get_by_role("button", name="提交审批 Submit decision").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    items = api.get(f"/api/v1/cases/{case['id']}/approvals", "sun.li").get_json()["items"]
    assert sorted((a["remedy"], a["approver"], a["decision"]) for a in items) == [
        ("compensation", "chen.jie", "reject"),
        ("exchange", "he.ping", "approve"),
    ]

    case = api.case(case["id"])
    carry = api.open_task(case, "carry_out_remedy")
    done = api.post(
        f"/api/v1/tasks/{carry['id']}/complete",
        "zhao.min",
        json={"data": {"remedy_carried_out": True, "new_serial": "SN999"}},
    )
    assert done.status_code == 200, done.get_json()
    case = api.complete(
        done.get_json(), "revise_or_withdraw", "zhao.min", {"action": "withdraw", "note": "告知客户"}
    )
    outcome = case["data"]["remedy_outcome"]
    assert [(o["remedy"], o["approved"], o["reason"]) for o in outcome] == [
        ("exchange", True, None),
        ("compensation", False, "损失凭证不足"),
    ]
    page.reload()
    lines = (
        page.locator(".card", has_text="处理方案结果 Remedy outcomes")
        .get_by_test_id("remedy-outcomes")
        .locator("li")
    )
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("换货 Exchange：批准 Approved")
    expect(lines.nth(1)).to_contain_text("赔偿 Compensation：未批准 Not approved")
    expect(lines.nth(1)).to_contain_text("损失凭证不足")
    approvals = page.locator("h2:has-text('审批 Approvals') + ul")
    expect(approvals).to_contain_text("换货 Exchange")
    expect(approvals).to_contain_text("赔偿 Compensation")
    manager.no_sideways_scroll()
