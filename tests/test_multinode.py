"""Several real nodes over one PostgreSQL database: `python -m api serve` processes and
`python -m api worker` processes, raced, loaded and killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from sqlalchemy import create_engine, text

from engine.config import EngineConfig
from engine.core import Engine

from .conftest import USERS
from .support import START_DATA, auth, race, start_data, token_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One service process (`serve` or `worker`) with its own log."""

    def __init__(self, command: list[str], database_url: str, users_file: Path, log_dir: Path, name: str):
        self.port = _free_port() if command[0] == "serve" else None
        args = [*command, "--port", str(self.port), "--no-worker"] if self.port else command
        env = {
            **os.environ,
            "COMPLAINTS_DATABASE_URL": database_url,
            "COMPLAINTS_USERS_FILE": str(users_file),
        }
        self.log = (log_dir / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api", *args], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError("node did not become healthy")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def users_file(tmp_path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(
        "users:\n"
        + "".join(
            f"  - username: {u}\n    groups: [{', '.join(g)}]\n    token: {token_of(u)}\n"
            for u, g in USERS.items()
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cluster(database_url, users_file, tmp_path):
    """start(kind, count) → started, healthy nodes; all stopped at the end."""
    nodes: list[Node] = []

    def start(kind: str = "serve", count: int = 1) -> list[Node]:
        started = [
            Node([kind], database_url, users_file, tmp_path, f"{kind}-{len(nodes) + i}") for i in range(count)
        ]
        nodes.extend(started)
        for node in started:
            if kind == "serve":
                node.wait_ready()
        return started

    yield start
    for node in nodes:
        node.stop()


def _count(database_url: str, sql: str, **params) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        value = connection.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def test_twenty_clients_race_one_task_across_nodes(cluster, database_url):
    nodes = cluster("serve", 2)
    case = requests.post(
        f"{nodes[0].url}/api/v1/cases",
        json={"process": "complaint", "data": START_DATA},
        headers=auth("callcentre"),
        timeout=30,
    ).json()
    task_id = case["tasks"][0]["id"]

    def complete(node: Node, user: str):
        return lambda: requests.post(
            f"{node.url}/api/v1/tasks/{task_id}/complete",
            json={"data": {"customer_contacted": True}},
            headers=auth(user),
            timeout=60,
        )

    responses = race([complete(nodes[i % 2], ("li.na", "wu.fang")[i % 2]) for i in range(20)])
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM case_events WHERE type = 'task_completed' AND case_id = :c",
            c=case["id"],
        )
        == 1
    )
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM human_tasks WHERE case_id = :c AND status = 'open'",
            c=case["id"],
        )
        == 1
    )


def test_two_hundred_parallel_starts_across_nodes_make_two_hundred_cases(cluster, database_url):
    nodes = cluster("serve", 3)
    results: list = []
    lock = threading.Lock()

    def client(index: int) -> None:
        session = requests.Session()
        for n in range(10):
            node = nodes[(index + n) % 3]
            data = start_data(customer={"id": f"C-{index}-{n}"})
            response = session.post(
                f"{node.url}/api/v1/cases",
                json={"process": "complaint", "data": data},
                headers=auth("callcentre"),
                timeout=60,
            )
            with lock:
                results.append(response)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [r.status_code for r in results] == [201] * 200
    assert len({r.json()["id"] for r in results}) == 200
    assert len({r.json()["business_key"] for r in results}) == 200
    # 200 complaints of one issue code within the hour form one batch: one coordinating case too.
    assert _count(database_url, "SELECT count(*) FROM cases WHERE process_key = 'complaint'") == 200
    assert _count(database_url, "SELECT count(*) FROM cases WHERE process_key = 'batch_incident'") == 1
    assert _count(database_url, "SELECT count(*) FROM human_tasks WHERE status = 'open'") == 201


def test_three_worker_processes_fire_each_due_timer_once(cluster, database_url, directory, tmp_path):
    seeding = Engine(EngineConfig(database_url=database_url), directory)
    with time_machine.travel(datetime.now(UTC) - timedelta(hours=25), tick=True):
        for i in range(60):
            seeding.cases.start(
                directory.users["callcentre"], "complaint", start_data(customer={"id": f"T-{i}"})
            )
    seeding.close()
    assert _count(database_url, "SELECT count(*) FROM cases WHERE next_timer_at <= now()") == 60
    cluster("worker", 3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _count(database_url, "SELECT count(*) FROM cases WHERE next_timer_at <= now()") == 0:
            break
        time.sleep(0.2)
    time.sleep(1)  # let any worker that still held a case finish
    per_case = _count(
        database_url,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM case_events WHERE type = 'timer_fired' GROUP BY case_id) t",
    )
    fired_cases = _count(
        database_url, "SELECT count(DISTINCT case_id) FROM case_events WHERE type = 'timer_fired'"
    )
    assert fired_cases == 60 and per_case == 1
    assert _count(database_url, "SELECT count(*) FROM escalations WHERE clock = 'acknowledge'") == 60
    # The workers log what they do, but not SpiffWorkflow's line per task state change.
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(3)]
    assert all("Timer worker running" in log for log in logs)
    assert not any("spiff.task" in log for log in logs)


def test_a_node_killed_under_load_leaves_every_acknowledged_case_whole(cluster, database_url):
    victim, survivor = cluster("serve", 2)
    acknowledged: list[str] = []
    completed: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(index: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            node = (victim, survivor)[(index + n) % 2]
            n += 1
            try:
                response = session.post(
                    f"{node.url}/api/v1/cases",
                    json={"process": "complaint", "data": start_data(customer={"id": f"K-{index}-{n}"})},
                    headers=auth("callcentre"),
                    timeout=30,
                )
                if response.status_code != 201:
                    with lock:
                        errors.append(f"start {response.status_code}")
                    continue
                case = response.json()
                with lock:
                    acknowledged.append(case["id"])
                done = session.post(
                    f"{node.url}/api/v1/tasks/{case['tasks'][0]['id']}/complete",
                    json={"data": {"customer_contacted": True}},
                    headers=auth("li.na"),
                    timeout=30,
                )
                if done.status_code == 200:
                    with lock:
                        completed.append(case["id"])
            except requests.RequestException:
                pass  # the killed node: the request was never acknowledged

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(4)
    victim.kill()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(acknowledged) > 20 and len(completed) > 10

    # Every acknowledged case is whole and can go on; every completion that was acknowledged stuck.
    for case_id in acknowledged:
        case = requests.get(
            f"{survivor.url}/api/v1/cases/{case_id}", headers=auth("sun.li"), timeout=30
        ).json()
        assert case["status"] == "running"
        expected = ["diagnose_and_repair"] if case_id in completed else None
        elements = sorted(t["element_id"] for t in case["tasks"])
        assert elements in (["register_complaint"], ["diagnose_and_repair"])
        if expected:
            assert elements == expected
    # No half-written case anywhere, acknowledged or not: state, a start event, one open task.
    assert _count(database_url, "SELECT count(*) FROM cases WHERE state = '' OR state IS NULL") == 0
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.type = 'case_started')",
        )
        == 0
    )
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM cases c WHERE (SELECT count(*) FROM human_tasks h WHERE h.case_id = c.id AND h.status = 'open') <> 1",
        )
        == 0
    )
    # And a case goes on through the surviving node.
    sample = completed[0]
    case = requests.get(f"{survivor.url}/api/v1/cases/{sample}", headers=auth("sun.li"), timeout=30).json()
    record = {"fault_found": "刹车线松动", "repaired": True}
    moved = requests.post(
        f"{survivor.url}/api/v1/tasks/{case['tasks'][0]['id']}/complete",
        json={"data": record},
        headers=auth("wang.qiang"),
        timeout=30,
    )
    assert moved.status_code == 200
    assert [t["element_id"] for t in moved.json()["tasks"]] == ["reply_to_customer"]
