"""Helpers for driving the service over HTTP as its users do."""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any

# Where the browser tests save their screenshots: a scratch folder by default, so a test run
# leaves the tree clean; `COMPLAINTS_SCREENSHOTS=docs/screenshots` refreshes the README's pictures.
SCREENSHOTS = Path(
    os.environ.get("COMPLAINTS_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
).resolve()


def token_of(username: str) -> str:
    return f"test-token-{username}-0123456789"


def password_of(username: str) -> str:
    """The workbench password of a test user (tests/conftest.py hashes it into the users file)."""
    return f"pw-{username}"


def auth(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(username)}"}


START_DATA: dict[str, Any] = {
    "channel": "phone",
    "customer": {"id": "C-1001", "name": "张三", "phone": "13800000000", "tier": "ordinary"},
    "product": {"model": "EB-200", "serial": "SN123456", "purchase_date": "2026-08-01"},
    "problem": {"category": "product_quality", "issue_code": "EB200-BRAKE", "description": "刹车失灵"},
    "request": "repair",
    "amount_claimed": 0,
    "flags": {"media_attention": False, "litigation_risk": False, "cross_region": False, "upgraded": False},
}


def start_data(**changes: Any) -> dict[str, Any]:
    """The standard start form with nested changes: start_data(customer={"tier": "vip"})."""
    data = copy.deepcopy(START_DATA)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


class ServiceClient:
    """The Flask test client, with the calls the tests make again and again."""

    def __init__(self, client):
        self.client = client

    # ---- raw
    def get(self, path: str, user: str | None = None, **kw):
        return self.client.get(path, headers=auth(user) if user else {}, **kw)

    def post(self, path: str, user: str | None = None, json: Any = None, headers: dict | None = None, **kw):
        all_headers = {**(auth(user) if user else {}), **(headers or {})}
        return self.client.post(path, headers=all_headers, json=json, **kw)

    # ---- cases
    def start(self, data: dict | None = None, user: str = "li.na", expect: int = 201, **body):
        response = self.post(
            "/api/v1/cases", user, json={"process": "complaint", "data": data or start_data(), **body}
        )
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def case(self, case_id: str, user: str = "sun.li") -> dict:
        response = self.get(f"/api/v1/cases/{case_id}", user)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def events(self, case_id: str, user: str = "sun.li") -> list[dict]:
        response = self.get(f"/api/v1/cases/{case_id}/events?per_page=200", user)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]

    def event_types(self, case_id: str) -> list[str]:
        return [e["type"] for e in self.events(case_id)]

    # ---- tasks
    @staticmethod
    def open_task(case: dict, element_id: str) -> dict:
        matches = [t for t in case["tasks"] if t["element_id"] == element_id]
        assert matches, f"no open task {element_id}; open: {[t['element_id'] for t in case['tasks']]}"
        return matches[0]

    @staticmethod
    def open_elements(case: dict) -> list[str]:
        return sorted(t["element_id"] for t in case["tasks"])

    def complete(self, case: dict, element_id: str, user: str, data: dict | None = None, expect: int = 200):
        task = self.open_task(case, element_id)
        response = self.post(f"/api/v1/tasks/{task['id']}/complete", user, json={"data": data or {}})
        assert response.status_code == expect, response.get_json()
        return response.get_json() if expect == 200 else response

    def decide(self, case: dict, element_id: str, user: str, expect: int = 200, **decision):
        task = self.open_task(case, element_id)
        response = self.post(f"/api/v1/approvals/{task['id']}", user, json=decision)
        assert response.status_code == expect, response.get_json()
        return response.get_json() if expect == 200 else response


def race(calls):
    """Run the calls at the same instant from separate threads; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results
