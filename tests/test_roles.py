"""The role matrix of the README, walked cell by cell: every endpoint × every group.

The expected answers are read from the README's table, so documentation and behaviour agree.
A cell is "allowed" when the answer is anything but 403 (the call may still be a 409 or 422 for
other reasons); "—" must be exactly 403.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from .flows import apply, register
from .support import START_DATA, auth, start_data

README = Path(__file__).resolve().parents[1] / "README.md"
GROUP_USERS = {
    "agents": "li.na",
    "technicians": "wang.qiang",
    "after_sales_leads": "zhao.min",
    "managers": "chen.jie",
    "general_managers": "liu.yang",
    "supervisors": "sun.li",
    "process_owners": "zhou.hao",
    "integrations": "callcentre",
    "admins": "admin",
}


def matrix() -> list[tuple[str, dict[str, bool]]]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- roles -->", 1)[1].split("<!-- /roles -->", 1)[0]
    lines = [line for line in block.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    groups = header[1:]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        endpoint = re.match(r"`([^`]+)`", cells[0]).group(1)
        rows.append((endpoint, {g: c == "✓" for g, c in zip(groups, cells[1:], strict=True)}))
    return rows


MATRIX = matrix()


def test_the_readme_table_covers_every_route_of_the_api(app):
    documented = {endpoint for endpoint, _ in MATRIX}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") and rule.rule != "/metrics":
            continue
        if rule.rule == "/api/v1/health":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        path = path.replace("{case_id}", "{id}").replace("{decision_id}", "{id}")
        path = path.replace("/api/v1/tasks/{task_id}", "/api/v1/tasks/{id}")
        path = path.replace("{attachment_id}", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add(f"{method} {path}")
    assert routes == documented


class Calls:
    """Builds what each endpoint needs (fresh where the call changes it) and makes the call."""

    def __init__(self, api):
        self.api = api

    def fresh_case(self) -> dict:
        """A new case waiting at its agents' task; a case that is not is a failure of its own."""
        case = self.api.start(user="callcentre")
        elements = [t["element_id"] for t in case["tasks"]]
        assert case["status"] == "running" and elements == ["register_complaint"], (
            f"a new case should wait at register_complaint: {case['status']}, {elements}, {case['error']}"
        )
        return case

    def agents_task(self) -> dict:
        return self.fresh_case()["tasks"][0]

    def call(self, endpoint: str, user: str):
        api = self.api
        method, path = endpoint.split(" ", 1)
        if path == "/api/v1/deployments":
            data = {"f": (io.BytesIO(Path("processes/sla_deadlines.dmn").read_bytes()), "sla_deadlines.dmn")}
            return api.client.post(path, data=data, headers=auth(user), content_type="multipart/form-data")
        if path == "/api/v1/decisions/{id}/evaluate":
            return api.post(
                "/api/v1/decisions/sla_deadlines/evaluate", user, json={"inputs": {"priority": "urgent"}}
            )
        if path.startswith("/api/v1/processes"):
            path = path.replace("{key}", "complaint").replace("{version}", "1")
            return api.get(path, user)
        if endpoint == "POST /api/v1/cases":
            return api.post(path, user, json={"process": "complaint", "data": START_DATA})
        if path.startswith("/api/v1/cases/{id}"):
            case = self.fresh_case()
            path = path.replace("{id}", case["id"]).replace("{name}", "customer_called_back")
            if path.endswith("/cancel"):
                return api.post(path, user, json={"reason": "测试"})
            if path.endswith("/reassign"):
                return api.post(path, user, json={"to": "wu.fang", "reason": "测试"})
            if path.endswith("/contacts"):
                return api.post(path, user, json={"note": "客户来电"})
            if method == "POST":
                return api.post(path, user, json={"data": {}})
            return api.get(path, user)
        if path.startswith("/api/v1/tasks/{id}"):
            task = self.agents_task()
            path = path.replace("{id}", task["id"])
            if path.endswith("/complete"):
                return api.post(path, user, json={"data": {"customer_contacted": True}})
            return api.post(path, user) if method == "POST" else api.get(path, user)
        if path == "/api/v1/attachments/{id}":
            case = api.start(user="callcentre")
            data = {"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "invoice.pdf")}
            uploaded = api.client.post(
                f"/api/v1/cases/{case['id']}/attachments",
                data=data,
                headers=auth("callcentre"),
                content_type="multipart/form-data",
            )
            return api.get(f"/api/v1/attachments/{uploaded.get_json()['id']}", user)
        if path == "/api/v1/approvals/{task_id}":
            case = register(api, api.start(start_data(request="exchange"), user="li.na"))
            case = apply(api, case, user="zhao.min")
            task = api.open_task(case, "manager_approval")
            return api.post(f"/api/v1/approvals/{task['id']}", user, json={"decision": "approve"})
        return api.get(path, user)


@pytest.mark.parametrize(("endpoint", "allowed"), MATRIX, ids=[endpoint for endpoint, _ in MATRIX])
def test_role_matrix(api, endpoint, allowed):
    calls = Calls(api)
    outcome = {}
    for group, user in GROUP_USERS.items():
        status = calls.call(endpoint, user).status_code
        assert status not in (401, 500), (endpoint, group, status)
        outcome[group] = status != 403
    assert outcome == allowed


def test_no_token_or_a_wrong_token_is_401_everywhere_but_the_public_endpoints(api):
    for endpoint, _ in MATRIX:
        method, path = endpoint.split(" ", 1)
        path = re.sub(r"\{\w+\}", "1", path)
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
            response = api.client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (endpoint, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for public in ("/api/v1/health", "/openapi.json", "/docs"):
        assert api.client.get(public).status_code == 200
