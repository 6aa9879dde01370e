"""The complaint lifecycle (start, then every user task to completion) timed three ways in one run:

- `engine`: SpiffWorkflow alone, in-process: the diagrams parsed once, and between steps the
  workflow serialized and deserialized with SpiffWorkflow's own serializer (as any service must,
  since a request may land on any node), scripts run by its own PythonScriptEngine with the same
  helper functions;
- `engine_specless`: the same, but the state serialized without the spec, as this service stores
  it (the cheaper baseline, reported so nobody mistakes where the gain comes from);
- `http`: the service over real HTTP (waitress; keep-alive connections), SQLite.

`ratio` = http / the faster of the two engine baselines. Without `--quick`: PostgreSQL too, and
several clients at once.

    python -m bench.lifecycle --quick
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, text

from api import create_app
from engine.calendar import WorkingCalendar
from engine.config import EngineConfig
from engine.core import Engine
from engine.forms import apply_defaults
from engine.script_helpers import make_helpers
from engine.serializer import StateSerializer

from .common import (
    ROOT,
    START,
    STEPS,
    Stopwatch,
    directory,
    headers,
    live_server,
    machine,
    median,
    percentile,
)

POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ---- SpiffWorkflow alone


class EngineOnly:
    """The lifecycle with nothing but SpiffWorkflow: parse once, (de)serialize between steps."""

    def __init__(self, specless: bool):
        parser = SpiffBpmnParser()
        parser.add_bpmn_files(sorted(str(p) for p in (ROOT / "processes").glob("*.bpmn")))
        parser.add_dmn_files(sorted(str(p) for p in (ROOT / "processes").glob("*.dmn")))
        self.spec = parser.get_spec("complaint")
        self.subprocess_specs = parser.get_subprocess_specs("complaint")
        helpers = make_helpers(WorkingCalendar())
        self.script_engine = PythonScriptEngine(environment=TaskDataEnvironment(helpers))
        self.specless = specless
        self.spiff = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.ours = StateSerializer()
        start_form = json.loads((ROOT / "forms" / "complaint-start.schema.json").read_text(encoding="utf-8"))
        self.start_data = apply_defaults(start_form, json.loads(json.dumps(START)))
        self.forms: dict[str, dict] = {}

    def _form(self, task) -> dict:
        """The task's form (its defaults fill in what the user left out, as the service does)."""
        name = task.task_spec.extensions["properties"]["formJsonSchemaFilename"]
        if name not in self.forms:
            self.forms[name] = json.loads((ROOT / "forms" / name).read_text(encoding="utf-8"))
        return self.forms[name]

    def _dump(self, workflow: BpmnWorkflow) -> str:
        return self.ours.dump_state(workflow) if self.specless else self.spiff.serialize_json(workflow)

    def _load(self, state: str) -> BpmnWorkflow:
        if self.specless:
            return self.ours.load_state(state, self.spec, self.subprocess_specs, self.script_engine)
        workflow = self.spiff.deserialize_json(state)
        workflow.script_engine = self.script_engine
        return workflow

    def lifecycle(self) -> float:
        watch = Stopwatch()
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(
            {
                **json.loads(json.dumps(self.start_data)),
                "case_id": str(uuid.uuid4()),
                "business_key": "TS-BENCH",
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "first_contact_owner": "li.na",
                "facts": {"repeat": False, "batch_ordinary_customers": 1, "batch_vip_customers": 0},
            }
        )
        workflow.do_engine_steps()
        state = self._dump(workflow)
        for element, _user, data in STEPS:
            workflow = self._load(state)
            task = next(
                t
                for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                if t.task_spec.name == element
            )
            task.data.update(apply_defaults(self._form(task), json.loads(json.dumps(data))))
            task.run()
            workflow.do_engine_steps()
            state = self._dump(workflow)
        assert workflow.is_completed()
        return watch.ms


# ---- the service over HTTP


class OverHttp:
    """A keep-alive HTTP client per user (the standard library's, so the client's own cost stays
    small next to the service's)."""

    def __init__(self, base_url: str):
        self.address = urlsplit(base_url)
        self.connections: dict[str, http.client.HTTPConnection] = {}
        self.step_ms: list[float] = []

    def _post(self, user: str, path: str, body: dict) -> dict:
        connection = self.connections.get(user)
        if connection is None:
            connection = self.connections[user] = http.client.HTTPConnection(
                self.address.hostname, self.address.port, timeout=60
            )
        watch = Stopwatch()
        connection.request(
            "POST", path, body=json.dumps(body), headers={**headers(user), "Content-Type": "application/json"}
        )
        response = connection.getresponse()
        payload = response.read()
        self.step_ms.append(watch.ms)
        assert response.status in (200, 201), payload
        return json.loads(payload)

    def lifecycle(self) -> float:
        watch = Stopwatch()
        case = self._post("li.na", "/api/v1/cases", {"process": "complaint", "data": START})
        for element, user, data in STEPS:
            task = next(t for t in case["tasks"] if t["element_id"] == element)
            case = self._post(user, f"/api/v1/tasks/{task['id']}/complete", {"data": data})
        assert case["status"] == "completed", case["status"]
        return watch.ms


def service(database_url: str) -> Engine:
    engine = Engine(EngineConfig(database_url=database_url), directory())
    engine.migrate()
    engine.deploy_folders(ROOT / "processes", ROOT / "forms")
    return engine


def postgres_database() -> tuple[str, callable]:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


# ---- running


def timed_rounds(runners: dict[str, callable], rounds: int, per_round: int) -> dict[str, list[float]]:
    """Alternate the runners round by round, so a noisy moment hurts them all alike."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times[name].extend(run() for _ in range(per_round))
    return times


def concurrency(base_url: str, clients: int, seconds: float) -> dict:
    stop = time.monotonic() + seconds
    done: list[int] = []
    steps: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        runner = OverHttp(base_url)
        count = 0
        while time.monotonic() < stop:
            runner.lifecycle()
            count += 1
        with lock:
            done.append(count)
            steps.extend(runner.step_ms)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    watch = Stopwatch()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = watch.ms / 1000
    return {
        "clients": clients,
        "lifecycles_per_s": round(sum(done) / elapsed, 1),
        "step_p50_ms": round(percentile(steps, 50), 1),
        "step_p95_ms": round(percentile(steps, 95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle")
    parser.add_argument("--quick", action="store_true", help="SQLite only, few rounds (under a minute)")
    args = parser.parse_args()
    rounds, per_round = (4, 5) if args.quick else (8, 10)
    workdir = Path(os.environ.get("BENCH_DIR", "/tmp")) / f"bench-lifecycle-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    result: dict = {
        "machine": machine(),
        "lifecycles_per_runner": rounds * per_round,
        "steps_per_lifecycle": 1 + len(STEPS),
    }

    sqlite = service(f"sqlite:///{workdir / 'bench.db'}")
    engine_full, engine_specless = EngineOnly(specless=False), EngineOnly(specless=True)
    with live_server(create_app(sqlite, sqlite.ctx.directory)) as url:
        http = OverHttp(url)
        runners = {
            "engine": engine_full.lifecycle,
            "engine_specless": engine_specless.lifecycle,
            "http": http.lifecycle,
        }
        timed_rounds(runners, 1, 3)  # warm-up: caches, connections, JIT-less but imports and pools
        times = timed_rounds(runners, rounds, per_round)
        for name, values in times.items():
            result[f"{name}_ms"] = round(median(values), 2)
        result["http_step_p95_ms"] = round(percentile(http.step_ms, 95), 2)
        if not args.quick:
            result["concurrency_sqlite"] = concurrency(url, clients=8, seconds=15)
    sqlite.close()
    baseline = min(result["engine_ms"], result["engine_specless_ms"])
    result["ratio"] = round(result["http_ms"] / baseline, 2)
    result["ratio_vs_spiff_serializer"] = round(result["http_ms"] / result["engine_ms"], 2)

    if not args.quick:
        url, drop = postgres_database()
        try:
            pg = service(url)
            with live_server(create_app(pg, pg.ctx.directory)) as base:
                http_pg = OverHttp(base)
                runners = {"engine_specless": engine_specless.lifecycle, "http_pg": http_pg.lifecycle}
                timed_rounds(runners, 1, 3)
                times = timed_rounds(runners, rounds, per_round)
                result["http_pg_ms"] = round(median(times["http_pg"]), 2)
                result["engine_specless_pg_run_ms"] = round(median(times["engine_specless"]), 2)
                result["ratio_pg"] = round(
                    result["http_pg_ms"] / min(result["engine_specless_pg_run_ms"], baseline), 2
                )
                result["concurrency_postgresql"] = concurrency(base, clients=8, seconds=15)
            pg.close()
        finally:
            drop()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
