"""The service as it is deployed, and a client that drives it as its users do.

`ServiceProcess` runs `python -m api serve` (waitress) in a subprocess of its own, on a free port,
with a users file and a database URL: the benchmark's client never shares a GIL with it.
`Client` keeps one `requests.Session` per user (keep-alive, that user's bearer token).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from .common import FACTS, ROOT, STEPS, Stopwatch, headers, start_data, users_yaml

READY_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """`python -m api serve --no-worker` on a free port; a context manager that yields its URL."""

    def __init__(self, database_url: str, folder: Path, threads: int = 8, name: str = "serve"):
        self.database_url = database_url
        self.folder = folder
        self.threads = threads
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        users = self.folder / "users.yaml"
        users.write_text(users_yaml(), encoding="utf-8")
        env = {
            **os.environ,
            "COMPLAINTS_DATABASE_URL": self.database_url,
            "COMPLAINTS_USERS_FILE": str(users),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "api", "serve", "--no-worker"]
        command += ["--port", str(self.port), "--threads", str(self.threads)]
        log = (self.folder / f"{self.name}.log").open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()
        return self.url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.folder / f'{self.name}.log'}")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the service did not answer within {READY_TIMEOUT_S} s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Client:
    """Calls the service as the right users; remembers how long each call took (ms)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.sessions: dict[str, requests.Session] = {}
        self.step_ms: dict[str, list[float]] = {}

    def _session(self, user: str) -> requests.Session:
        session = self.sessions.get(user)
        if session is None:
            session = self.sessions[user] = requests.Session()
            session.headers.update(headers(user))
        return session

    def _record(self, label: str, ms: float) -> None:
        self.step_ms.setdefault(label, []).append(ms)

    def post(self, user: str, path: str, body: dict[str, Any], label: str) -> dict[str, Any]:
        watch = Stopwatch()
        response = self._session(user).post(self.base_url + path, json=body, timeout=120)
        self._record(label, watch.ms)
        if response.status_code not in (200, 201):
            raise AssertionError(f"{label}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json()

    def get(self, user: str, path: str, label: str, params: dict | None = None) -> dict[str, Any]:
        watch = Stopwatch()
        response = self._session(user).get(self.base_url + path, params=params, timeout=120)
        self._record(label, watch.ms)
        if response.status_code != 200:
            raise AssertionError(f"{label}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json()

    def start(self, n: int) -> dict[str, Any]:
        case = self.post("li.na", "/api/v1/cases", {"process": "complaint", "data": start_data(n)}, "start")
        if case["data"].get("facts") != FACTS or case["priority"] != "ordinary":
            raise AssertionError(f"unexpected classification: {case['data'].get('facts')}")
        return case

    def complete(self, case: dict[str, Any], element: str, user: str, data: dict) -> dict[str, Any]:
        task = next(t for t in case["tasks"] if t["element_id"] == element)
        return self.post(user, f"/api/v1/tasks/{task['id']}/complete", {"data": data}, element)

    def lifecycle(self, n: int) -> float:
        """Start complaint `n` and complete every task of the repair path; returns ms."""
        watch = Stopwatch()
        case = self.start(n)
        for element, user, data in STEPS:
            case = self.complete(case, element, user, data)
        if case["status"] != "completed":
            raise AssertionError(f"lifecycle ended {case['status']} with tasks {case['tasks']}")
        return watch.ms

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


class InProcessClient(Client):
    """The same calls through Flask's test client, so a profiler in this thread sees the service."""

    def __init__(self, app) -> None:
        super().__init__("")
        self.test_client = app.test_client()

    def post(self, user: str, path: str, body: dict[str, Any], label: str) -> dict[str, Any]:
        response = self.test_client.post(path, json=body, headers=headers(user))
        if response.status_code not in (200, 201):
            raise AssertionError(f"{label}: HTTP {response.status_code}: {response.get_data(as_text=True)}")
        return response.get_json()

    def get(self, user: str, path: str, label: str, params: dict | None = None) -> dict[str, Any]:
        response = self.test_client.get(path, query_string=params, headers=headers(user))
        if response.status_code != 200:
            raise AssertionError(f"{label}: HTTP {response.status_code}: {response.get_data(as_text=True)}")
        return response.get_json()
