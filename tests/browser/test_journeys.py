"""The workbench's journeys in a real headless Chromium, against the real service over HTTP.

Each test is one person's (or two people's) whole journey through the screens, checked both on the
screen and in the service's own records (read through the API), with a screenshot of the main
screen saved under docs/screenshots/ for the README.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from ..conftest import ROOT
from ..flows import register, repair
from ..support import auth, password_of, start_data

SHANGHAI = ZoneInfo("Asia/Shanghai")


def field_error(page, field_id: str):
    """The error list rjsf shows under one field (by the field's input id)."""
    return page.locator(f".form-group:has(#{field_id}) .error-detail").first


def test_an_agent_takes_a_complaint_and_registers_it(person, api):
    agent = person("li.na")
    agent.sign_in("/new")  # no session: sign-in first, then back to the new-complaint screen
    page = agent.page
    expect(page.get_by_role("heading", name="受理新投诉 New complaint")).to_be_visible()
    page.select_option("#root_channel", label="电话 phone")
    page.fill("#root_customer_id", "C-2001")
    page.fill("#root_customer_name", "李雷")
    page.fill("#root_customer_phone", "13900001111")
    page.fill("#root_product_model", "EB-200")
    page.fill("#root_product_serial", "SN778899")
    page.fill("#root_product_purchase_date", "2026-11-01")
    page.select_option("#root_problem_category", label="产品质量 product_quality")
    page.fill("#root_problem_issue_code", "EB200-BRAKE")
    page.select_option("#root_request", label="修理 repair")
    page.get_by_role("button", name="立案 Start the case").click()
    # The description is required: the form says so at the field, and nothing is sent.
    expect(field_error(page, "root_problem_description")).to_be_visible()
    assert api.get("/api/v1/cases", "sun.li").get_json()["total"] == 0
    page.fill("#root_problem_description", "刹车失灵，下坡时刹不住")
    page.evaluate("window.scrollTo(0, 0)")
    agent.screenshot("new-complaint")
    page.get_by_role("button", name="立案 Start the case").click()

    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]+$"))
    flash = page.locator(".ok")
    expect(flash).to_contain_text("已立案 TS-")
    case_id = agent.path().rsplit("/", 1)[1]
    case = api.case(case_id)
    assert case["data"]["customer"] == {
        "id": "C-2001",
        "name": "李雷",
        "phone": "13900001111",
        "tier": "ordinary",
    }
    assert case["data"]["problem"]["description"] == "刹车失灵，下坡时刹不住"
    assert case["data"]["first_contact_owner"] == "li.na"
    expect(page.get_by_role("heading", name=re.compile(case["business_key"]))).to_be_visible()

    page.get_by_role("link", name="登记并回应客户 Register and acknowledge").click()
    # Beside the form: the task's own guidance from the diagram (process data, not code).
    expect(page.locator("aside.wording")).to_contain_text("首问负责")
    page.locator("#root_customer_contacted-0").check()  # 是 Yes
    page.fill("#root_acknowledgement_note", "已电话告知客户，技术员明天上门")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.locator(".ok")).to_contain_text("已完成")
    expect(page.get_by_role("link", name="上门检修 Diagnose and repair on site")).to_be_visible()
    case = api.case(case_id)
    assert api.open_elements(case) == ["diagnose_and_repair"]
    assert case["data"]["acknowledgement_note"] == "已电话告知客户，技术员明天上门"
    # The case page's diagram marks the path taken and the current task.
    expect(page.locator('[data-element-id="register_complaint"].done')).to_have_count(1)
    expect(page.locator('[data-element-id="diagnose_and_repair"].active')).to_have_count(1)
    expect(page.locator("ol.timeline")).to_contain_text("完成任务 Task completed")
    page.locator(".diagram-box").first.scroll_into_view_if_needed()
    agent.screenshot("case-page")


def test_a_technician_claims_and_records_a_repair_fixing_a_form_error_on_the_way(person, api):
    case = register(api, api.start(start_data(request="repair")))
    technician = person("wang.qiang", phone=True)
    technician.sign_in("/")
    page = technician.page
    row = page.locator("[data-testid=inbox] li", has_text=case["business_key"])
    expect(row).to_contain_text("张三")
    expect(row).to_contain_text("刹车失灵")
    expect(row).to_contain_text("待领取")
    technician.no_sideways_scroll()
    technician.screenshot("inbox-phone")
    row.get_by_role("link", name="上门检修 Diagnose and repair on site").click()

    page.get_by_role("button", name="领取 Claim").click()
    expect(page.get_by_text("办理人 Assignee: wang.qiang")).to_be_visible()
    assert api.open_task(api.case(case["id"]), "diagnose_and_repair")["assignee"] == "wang.qiang"
    page.locator("#root_repaired-0").check()  # 是 Yes
    page.get_by_role("button", name="提交 Complete").click()
    # Forgot what was found: the form says so at that field, and the task stays open.
    expect(field_error(page, "root_fault_found")).to_be_visible()
    technician.no_sideways_scroll()
    technician.screenshot("task-form-error-phone")
    assert api.open_elements(api.case(case["id"])) == ["diagnose_and_repair"]

    page.fill("#root_fault_found", "刹车线松动")
    page.get_by_role("button", name=re.compile("添加|Add")).first.click()
    page.fill("#root_parts_replaced_0", "刹车线")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    expect(page.locator(".ok")).to_contain_text("上门检修")
    technician.no_sideways_scroll()
    done = api.case(case["id"])
    assert api.open_elements(done) == ["reply_to_customer"]
    assert done["data"]["fault_found"] == "刹车线松动"
    assert done["data"]["parts_replaced"] == ["刹车线"] and done["data"]["repaired"] is True
    completed = [e for e in api.events(case["id"]) if e["type"] == "task_completed"]
    assert completed[-1]["actor"] == "wang.qiang"


def test_the_server_refusal_shows_at_the_field_it_names(person, api):
    """Data the browser lets through but the service refuses: the service's own message, at the field."""
    case = repair(api, register(api, api.start(start_data(request="repair"))))
    agent = person("li.na")
    task = api.open_task(case, "reply_to_customer")
    agent.sign_in(f"/tasks/{task['id']}")
    page = agent.page
    page.fill("#root_reply_text", "已处理\u0000")  # a NUL: valid JSON Schema, refused by the service
    page.get_by_role("button", name="提交 Complete").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(field_error(page, "root_reply_text")).to_be_visible()
    assert api.open_elements(api.case(case["id"])) == ["reply_to_customer"]


def test_a_reply_and_a_satisfied_follow_up_close_the_case(person, api):
    case = repair(api, register(api, api.start(start_data(request="repair"))))
    agent = person("li.na")
    agent.sign_in("/")
    page = agent.page
    row = page.locator("[data-testid=inbox] li", has_text=case["business_key"])
    row.get_by_role("link", name="答复客户 Reply to the customer").click()
    page.fill("#root_reply_text", "您好，刹车线已更换，请放心使用。")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    assert api.open_elements(api.case(case["id"])) == ["follow_up_visit"]

    page.locator(".card", has_text="当前任务 Current tasks").get_by_role("link").first.click()
    page.locator("#root_satisfied-0").check()  # 是 Yes
    page.fill("#root_satisfaction", "5")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    expect(page.locator("p.meta").first).to_contain_text("已完成 Completed")
    closed = api.case(case["id"])
    assert closed["status"] == "completed"
    assert closed["data"]["reply_text"] == "您好，刹车线已更换，请放心使用。"
    assert closed["data"]["satisfied"] is True and closed["data"]["satisfaction"] == 5
    expect(page.locator("ol.timeline")).to_contain_text("结案 Case completed")
    agent.screenshot("case-closed")


def test_an_applicant_files_a_major_incident_and_a_manager_signs_it_off_but_not_the_applicant(person, api):
    bought = (datetime.now(SHANGHAI) - timedelta(days=31)).date().isoformat()
    case = register(api, api.start(start_data(request="exchange", product={"purchase_date": bought})))
    applicant = person("ma.li")  # an after-sales lead who is also a manager
    fill = api.open_task(case, "fill_application")
    applicant.sign_in(f"/tasks/{fill['id']}")
    page = applicant.page
    page.get_by_role("button", name="领取 Claim").click()
    expect(page.get_by_text("办理人 Assignee: ma.li")).to_be_visible()
    page.select_option("#root_remedy", label="换货 exchange")
    page.fill("#root_purchase_date", bought)
    page.fill("#root_same_fault_repairs", "2")
    page.fill("#root_cumulative_repair_days", "12")
    page.locator("#root_battery_faulty-1").check()  # 否 No
    page.locator("#root_injury_or_damage-1").check()  # 否 No
    page.fill("#root_loss_amount", "0")
    page.fill("#root_evidence", "维修单三张")
    page.get_by_role("button", name="提交 Complete").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    case = api.case(case["id"])
    sign_off = api.open_task(case, "manager_approval")
    assert case["data"]["applicant"] == "ma.li"

    # The applicant sees their application but may not decide it, nor find it in their queue.
    page.goto(applicant.url("/approvals"))
    expect(page.get_by_text("没有待审批的申请 Nothing to sign off")).to_be_visible()
    page.goto(applicant.url(f"/approvals/{sign_off['id']}"))
    expect(page.get_by_test_id("own-application")).to_be_visible()
    expect(page.get_by_role("button", name="提交审批 Submit decision")).to_have_count(0)
    expect(page.get_by_text("换货 Exchange").first).to_be_visible()

    manager = person("chen.jie", phone=True)
    manager.sign_in("/approvals")
    page = manager.page
    page.get_by_test_id("approvals").get_by_role("link", name=case["business_key"]).click()
    page.wait_for_url(re.compile(rf"/approvals/{sign_off['id']}$"))
    remedies = page.get_by_test_id("remedies")
    expect(remedies).to_contain_text("法定三包")
    expect(remedies).to_contain_text("公司政策")
    expect(remedies.locator("li.chosen").first).to_contain_text("换货 Exchange")
    expect(page.get_by_text("ma.li").first).to_be_visible()
    page.get_by_label("驳回 Reject").check()
    page.get_by_role("button", name="提交审批 Submit decision").click()
    expect(page.get_by_text("驳回必须填写意见")).to_be_visible()  # a rejection needs a comment
    page.get_by_label("批准 Approve").check()
    page.get_by_label(re.compile("批准金额")).fill("0")
    page.get_by_label(re.compile("意见")).fill("符合三包换车条件，同意换车")
    manager.no_sideways_scroll()
    manager.screenshot("sign-off-phone")
    page.get_by_role("button", name="提交审批 Submit decision").click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    expect(page.locator(".ok")).to_contain_text("已批准")
    decisions = api.get(f"/api/v1/cases/{case['id']}/approvals", "chen.jie").get_json()["items"]
    assert [(d["approver"], d["decision"], d["comment"]) for d in decisions] == [
        ("chen.jie", "approve", "符合三包换车条件，同意换车")
    ]


def test_a_process_owner_uploads_a_broken_diagram_and_sees_each_located_error(person, api):

    bpmn = (ROOT / "processes" / "complaint_handling.bpmn").read_text(encoding="utf-8")
    broken = bpmn.replace('value="reply-to-customer.schema.json"', 'value="reply.schema.json"')
    bad_form = '{"type": "object", "properties": {"reply_text": {"type": "text"}}}'
    line = next(
        n
        for n, text in enumerate(broken.splitlines(), 1)
        if 'id="reply_to_customer"' in text and "userTask" in text
    )
    owner = person("zhou.hao")
    owner.sign_in("/processes")
    page = owner.page
    expect(page.get_by_role("link", name="投诉处理 Complaint handling")).to_be_visible()
    before = api.get("/api/v1/processes/complaint_handling", "zhou.hao").get_json()["versions"]
    page.locator("input[name=file]").first.set_input_files(
        [
            {"name": "complaint_handling.bpmn", "mimeType": "application/xml", "buffer": broken.encode()},
            {
                "name": "register-complaint.schema.json",
                "mimeType": "application/json",
                "buffer": bad_form.encode(),
            },
        ]
    )
    page.get_by_role("button", name="部署 Deploy").click()
    table = page.get_by_test_id("deploy-errors")
    row = table.locator("tr", has_text="complaint_handling.bpmn")
    expect(row).to_contain_text("reply_to_customer")
    expect(row.locator("td").nth(2)).to_have_text(str(line))
    expect(row).to_contain_text("reply.schema.json")
    # Every problem the service reports has its row: file, element, line, message.
    refused = api.client.post(
        "/api/v1/deployments",
        headers=auth("zhou.hao"),
        data={
            "file": [
                (io.BytesIO(broken.encode()), "complaint_handling.bpmn"),
                (io.BytesIO(bad_form.encode()), "register-complaint.schema.json"),
            ]
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    problems = refused.get_json()["problems"]
    expect(table.locator("tbody tr")).to_have_count(len(problems))
    for index, problem in enumerate(problems):
        cells = table.locator("tbody tr").nth(index).locator("td")
        expect(cells.nth(0)).to_have_text(problem["file"])
        expect(cells.nth(1)).to_have_text(problem.get("element_id") or "—")
        expect(cells.nth(2)).to_have_text(str(problem["line"]) if problem.get("line") is not None else "—")
        expect(cells.nth(3)).to_have_text(problem["message"])
    table.scroll_into_view_if_needed()
    owner.screenshot("deploy-errors")
    assert api.get("/api/v1/processes/complaint_handling", "zhou.hao").get_json()["versions"] == before

    # The decision tester: inputs in, the rows that hit out; bad JSON is named at the box.
    tester = page.locator(".card", has_text="决策测试 Decision tester")
    tester.locator("textarea").fill("{not json")
    tester.get_by_role("button", name="计算 Evaluate").click()
    expect(tester.get_by_text("输入须为 JSON 对象")).to_be_visible()


def test_a_lost_session_goes_to_sign_in_and_back(person, api):
    case = register(api, api.start(start_data()))
    task = api.open_task(case, "diagnose_and_repair")
    technician = person("wang.qiang")
    technician.sign_in(f"/cases/{case['id']}")
    page = technician.page
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()  # the session is gone (expired, or signed out elsewhere)
    page.get_by_role("link", name="上门检修 Diagnose and repair on site").first.click()
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", "wang.qiang")
    page.fill("input[name=password]", password_of("wang.qiang"))
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(re.compile(rf"/tasks/{task['id']}$"))
    expect(page.get_by_role("button", name="领取 Claim")).to_be_visible()


def test_a_case_that_does_not_exist_says_so(person):
    agent = person("li.na")
    agent.sign_in("/cases/no-such-case")
    expect(agent.page.get_by_role("alert")).to_contain_text("no case no-such-case")


def test_a_supervisor_finds_an_urgent_case_and_reassigns_it_with_a_reason(person, api):
    case = api.start(start_data(channel="media", customer={"name": "韩梅梅"}))
    assert case["priority"] == "urgent"
    supervisor = person("sun.li", phone=True)
    supervisor.sign_in("/supervision")
    page = supervisor.page
    page.get_by_role("link", name=case["business_key"]).first.click()
    page.wait_for_url(re.compile(rf"/cases/{case['id']}$"))
    panel = page.locator(".supervise")
    panel.get_by_label("接手人 New owner").fill("wang.qiang")  # a technician cannot own a complaint
    panel.get_by_label("转派原因 Reason").fill("李娜休假")
    panel.get_by_role("button", name="转派 Reassign").click()
    expect(panel.locator("label:has([name=to]) .field-error")).to_contain_text("wang.qiang")
    assert "case_reassigned" not in api.event_types(case["id"])
    panel.get_by_label("接手人 New owner").fill("wu.fang")
    panel.get_by_role("button", name="转派 Reassign").click()
    expect(panel.locator(".ok")).to_contain_text("wu.fang")
    supervisor.no_sideways_scroll()
    reassigned = [e for e in api.events(case["id"]) if e["type"] == "case_reassigned"]
    assert len(reassigned) == 1 and reassigned[0]["actor"] == "sun.li"
    assert api.open_task(api.case(case["id"]), "register_complaint")["assignee"] == "wu.fang"


def test_a_process_owner_reads_a_version_s_diagram_and_decision_tables(person):
    owner = person("zhou.hao")
    owner.sign_in("/processes/complaint/1")
    page = owner.page
    expect(page.locator("[data-testid=bpmn] [data-element-id=register_complaint]")).to_have_count(1)
    page.get_by_role("button", name="complaint_urgency.dmn").click()
    table = page.get_by_test_id("dmn")
    expect(table.locator("table").first).to_be_visible()
    expect(table).to_contain_text("渠道 Channel")  # an input column's label
    expect(table).to_contain_text("60分钟内同问题VIP客户数")
    page.get_by_test_id("dmn").scroll_into_view_if_needed()
    owner.screenshot("decision-table")


def test_evidence_is_attached_on_the_case_page_and_refused_types_are_named(person, api):
    case = api.start(start_data())
    agent = person("li.na")
    agent.sign_in(f"/cases/{case['id']}")
    page = agent.page
    upload = page.locator("form.upload")
    png = (ROOT / "docs" / "screenshots" / "inbox-phone.png").read_bytes()
    upload.locator("input[type=file]").set_input_files(
        {"name": "照片.png", "mimeType": "image/png", "buffer": png}
    )
    upload.get_by_placeholder("说明 Description").fill("故障照片")
    upload.get_by_role("button", name="上传 Upload").click()
    expect(upload.get_by_role("status")).to_have_text("已上传 Uploaded")
    expect(page.get_by_role("link", name="照片.png")).to_be_visible()
    stored = api.get(f"/api/v1/cases/{case['id']}/attachments", "li.na").get_json()
    items = stored["items"] if isinstance(stored, dict) else stored
    assert [(a["filename"], a["size"]) for a in items] == [("照片.png", len(png))]
    upload.locator("input[type=file]").set_input_files(
        {"name": "run.sh", "mimeType": "text/x-shellscript", "buffer": b"#!/bin/sh\necho hi\n"}
    )
    upload.get_by_role("button", name="上传 Upload").click()
    expect(upload.get_by_role("status")).to_contain_text("不支持的文件类型")


def test_the_inbox_lists_my_tasks_first_then_my_groups_urgent_first(person, api):
    ordinary = register(api, api.start(start_data(customer={"id": "C-1", "name": "甲"})))
    urgent = register(api, api.start(start_data(channel="media", customer={"id": "C-2", "name": "乙"})))
    claimed = register(api, api.start(start_data(customer={"id": "C-3", "name": "丙"})))
    assert urgent["priority"] == "urgent" and ordinary["priority"] == "ordinary"
    task = api.open_task(claimed, "diagnose_and_repair")
    assert api.post(f"/api/v1/tasks/{task['id']}/claim", "wang.qiang").status_code == 200
    technician = person("wang.qiang")
    technician.sign_in("/")
    rows = technician.page.locator("[data-testid=inbox] li")
    expect(technician.page.locator("[data-testid=inbox][data-complete=true]")).to_have_count(1)
    expect(rows.locator(".key")).to_have_text(
        [claimed["business_key"], urgent["business_key"], ordinary["business_key"]]
    )
    expect(rows.nth(0)).to_contain_text("我的 Mine")
    expect(rows.nth(1)).to_contain_text("紧急 Urgent")
    expect(rows.nth(2)).to_contain_text("待领取")


def test_signing_out_ends_the_session(person):
    agent = person("li.na", phone=True)
    agent.sign_in("/search")
    page = agent.page
    page.get_by_role("button", name="菜单 Menu").click()
    expect(page.get_by_role("link", name="新投诉 New complaint")).to_be_visible()
    page.get_by_role("button", name="退出 Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(agent.url("/"))
    page.wait_for_url(re.compile(r"/login\?next="))


def test_an_overdue_task_counts_down_in_red(person, api):
    case = api.start(start_data())
    due = datetime.fromisoformat(api.open_task(case, "register_complaint")["due_at"])
    agent = person("li.na")
    agent.sign_in("/")
    row = agent.page.locator("[data-testid=inbox] li", has_text=case["business_key"])
    expect(row.locator(".due")).to_contain_text("剩")
    # The browser's clock moves past the due time (the countdown is the browser's arithmetic).
    agent.page.clock.install(time=due + timedelta(hours=3, minutes=5))
    agent.page.reload()
    overdue = row.locator(".overdue")
    expect(overdue).to_have_text("已超时 3小时5分")
    assert overdue.evaluate("e => getComputedStyle(e).color") == "rgb(200, 16, 46)"


def test_a_long_group_queue_comes_fifty_at_a_time(person, api):
    for n in range(52):
        register(api, api.start(start_data(customer={"id": f"C-{n}", "name": f"客户{n}"})))
    technician = person("wang.qiang")
    technician.sign_in("/")
    page = technician.page
    rows = page.locator("[data-testid=inbox] li")
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="更多 More").click()
    expect(rows).to_have_count(52)
    expect(page.get_by_role("button", name="更多 More")).to_have_count(0)
    expect(page.locator("[data-testid=inbox][data-complete=true]")).to_have_count(1)
