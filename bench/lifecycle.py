"""The complaint lifecycle timed by SpiffWorkflow alone and through the HTTP service, in one run.

- `engine`: SpiffWorkflow alone, in this process. The diagrams and decision tables are parsed
  once (`SpiffBpmnParser`); every step deserializes the state, completes the READY user task
  with its form data, runs `do_engine_steps()` and serializes again, as a service must between
  requests, with SpiffWorkflow's own `BpmnWorkflowSerializer` (SPIFF_CONFIG) and its default
  `PythonScriptEngine` (given the diagrams' helper functions: `now`, `add_hours`, ...). The
  workflow gets the initial data the service gives (`case_id`, `business_key`, `received_at`,
  `first_contact_owner`, `facts`, and the start form's defaults).
- `engine_specless` (for information): the same with the state serialized without the spec, as
  this service stores it: the cheapest a service built on SpiffWorkflow could be.
- `http`: `python -m api serve` in a subprocess on SQLite, driven by `requests.Session`s as the
  right users (li.na starts and handles the agents' tasks, wang.qiang repairs).

The runners alternate round by round after a warm-up; medians per lifecycle are reported, and
`ratio` = http_ms / engine_ms. Without `--quick`: PostgreSQL too (`http_pg_ms`, `ratio_pg`),
and several clients at once on both databases (lifecycles/s, step latency p50/p95).
`--profile` adds pyinstrument profiles of both sides (in-process, after the timings).

    python -m bench.lifecycle --quick
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.calendar import WorkingCalendar
from engine.forms import apply_defaults
from engine.script_helpers import make_helpers
from engine.serializer import StateSerializer

from .common import (
    FACTS,
    ROOT,
    STEP_NAMES,
    STEPS,
    Stopwatch,
    emit,
    headline,
    machine,
    median,
    percentile,
    postgres_database,
    ratio,
    service,
    sqlite_url,
    start_data,
    summary,
    workdir,
)
from .server import Client, InProcessClient, ServiceProcess

Runner = Callable[[int], float]

# ---- SpiffWorkflow alone


def _read_form(name: str) -> dict:
    return json.loads((ROOT / "forms" / name).read_text(encoding="utf-8"))


class EngineOnly:
    """The lifecycle with nothing but SpiffWorkflow: parse once, (de)serialize around each step."""

    def __init__(self, specless: bool = False):
        parser = SpiffBpmnParser()
        for path in sorted((ROOT / "processes").glob("*.bpmn")):
            parser.add_bpmn_str(path.read_bytes(), filename=path.name)
        for path in sorted((ROOT / "processes").glob("*.dmn")):
            parser.add_dmn_str(path.read_bytes(), filename=path.name)
        self.spec = parser.get_spec("complaint")
        self.subprocess_specs = parser.get_subprocess_specs("complaint")
        self.calendar = WorkingCalendar()
        self.script_engine = PythonScriptEngine(environment=TaskDataEnvironment(make_helpers(self.calendar)))
        self.spiff = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.specless = StateSerializer() if specless else None
        # The service fills in each form's defaults; the data is the same every time, so once here.
        self.start_form = _read_form("complaint-start.schema.json")
        self.step_data = {element: self._form_data(element, user, data) for element, user, data in STEPS}

    def _form_data(self, element: str, user: str, data: dict) -> dict:
        """The step's data as the service completes it: form defaults, and the task property
        `actorField` naming who completed it (the diagrams' scripts read it)."""
        spec = next(
            s
            for each in (self.spec, *self.subprocess_specs.values())
            for name, s in each.task_specs.items()
            if name == element
        )
        properties = spec.extensions["properties"]
        completed = apply_defaults(_read_form(properties["formJsonSchemaFilename"]), copy.deepcopy(data))
        if properties.get("actorField"):
            completed[properties["actorField"]] = user
        return completed

    def initial_data(self, n: int) -> dict[str, Any]:
        """What `CaseService.start` gives a new workflow (the facts of a fresh customer and issue)."""
        data = apply_defaults(self.start_form, start_data(n))
        data.update(
            {
                "case_id": str(uuid.uuid4()),
                "business_key": f"TS-{datetime.now(UTC):%Y%m%d}-{n:06d}",
                "received_at": self.calendar.local(datetime.now(UTC)).isoformat(timespec="seconds"),
                "first_contact_owner": "li.na",
                "facts": dict(FACTS),
            }
        )
        return data

    def _dump(self, workflow: BpmnWorkflow) -> str:
        if self.specless is not None:
            return self.specless.dump_state(workflow)
        return self.spiff.serialize_json(workflow)

    def _load(self, state: str) -> BpmnWorkflow:
        if self.specless is not None:
            return self.specless.load_state(state, self.spec, self.subprocess_specs, self.script_engine)
        workflow = self.spiff.deserialize_json(state)
        workflow.script_engine = self.script_engine
        return workflow

    def lifecycle(self, n: int) -> float:
        watch = Stopwatch()
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(self.initial_data(n))
        workflow.do_engine_steps()
        state = self._dump(workflow)
        for element, _user, _data in STEPS:
            workflow = self._load(state)
            task = next(
                t
                for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                if t.task_spec.name == element
            )
            task.data.update(copy.deepcopy(self.step_data[element]))
            task.run()
            workflow.do_engine_steps()
            state = self._dump(workflow)
        if not workflow.is_completed():
            raise AssertionError("the engine-only lifecycle did not complete")
        return watch.ms


# ---- running


class Counter:
    """Lifecycle numbers, unique across runners and threads (each gets its own customer)."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


def alternate(runners: dict[str, Runner], rounds: int, per_round: int, counter: Counter) -> dict:
    """Run the runners in turn, round by round, so a noisy moment hurts them all alike."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times[name].extend(run(counter()) for _ in range(per_round))
    return times


def concurrency(base_url: str, clients: int, seconds: float, counter: Counter) -> dict[str, Any]:
    """`clients` threads, each a user set of its own, running lifecycles for `seconds`."""
    stop_at = time.monotonic() + seconds
    done: list[int] = []
    steps: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        runner, count = Client(base_url), 0
        while time.monotonic() < stop_at:
            runner.lifecycle(counter())
            count += 1
        with lock:
            done.append(count)
            steps.extend(ms for values in runner.step_ms.values() for ms in values)
        runner.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    watch = Stopwatch()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "clients": clients,
        "lifecycles": sum(done),
        "lifecycles_per_s": round(sum(done) / watch.seconds, 2),
        "step_p50_ms": round(percentile(steps, 50), 1),
        "step_p95_ms": round(percentile(steps, 95), 1),
    }


def _steps_summary(client: Client) -> dict[str, dict]:
    return {name: summary(client.step_ms.get(name, [])) for name in STEP_NAMES}


def measure_http(
    database_url: str,
    folder: Path,
    name: str,
    engines: dict[str, Runner],
    args: argparse.Namespace,
    counter: Counter,
) -> dict[str, Any]:
    """Engine-only and HTTP lifecycles alternated against one database; then, in full mode, load."""
    service(database_url).close()  # migrate and deploy before the server starts
    with ServiceProcess(database_url, folder, name=name) as url:
        client = Client(url)
        runners = {**engines, name: client.lifecycle}
        alternate(runners, 1, args.warmup, counter)
        client.step_ms.clear()
        times = alternate(runners, args.rounds, args.per_round, counter)
        result: dict[str, Any] = {f"{runner}_ms": round(median(times[runner]), 2) for runner in runners}
        result[f"{name}_steps_ms"] = _steps_summary(client)
        result["lifecycles_per_runner"] = len(times[name])
        client.close()
        if not args.quick:
            result["concurrency"] = concurrency(url, args.clients, args.seconds, counter)
    return result


# ---- profiles (in-process, after the timings)


def profile_both(folder: Path, engine: EngineOnly, count: int, counter: Counter) -> dict[str, Any]:
    from api import create_app

    from .profiling import report

    built = service(sqlite_url(folder, "profile"))
    client = InProcessClient(create_app(built, built.ctx.directory))
    reports = {}
    for name, run in (("http_in_process", client.lifecycle), ("engine", engine.lifecycle)):
        for _ in range(3):
            run(counter())
        work = lambda run=run: [run(counter()) for _ in range(count)]  # noqa: E731
        reports[name] = report(work, folder, name, f"{name}: {count} lifecycles")
    built.close()
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="SQLite only, few lifecycles (under a minute)")
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 6 quick, 10 full)")
    parser.add_argument("--per-round", type=int, default=5, help="lifecycles per runner per round")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up lifecycles per runner")
    parser.add_argument("--clients", type=int, default=4, help="client threads in the concurrency run")
    parser.add_argument("--seconds", type=float, default=20, help="length of each concurrency run")
    parser.add_argument("--profile", action="store_true", help="also profile both sides with pyinstrument")
    args = parser.parse_args()
    args.rounds = args.rounds or (6 if args.quick else 10)
    folder = workdir("lifecycle")
    counter = Counter()
    engine = EngineOnly()
    specless = EngineOnly(specless=True)

    result: dict[str, Any] = {"benchmark": "lifecycle", "quick": args.quick, "backend": "sqlite"}
    result["machine"] = machine(with_postgres=not args.quick)
    result["steps_per_lifecycle"] = len(STEP_NAMES)
    engines = {"engine": engine.lifecycle, "engine_specless": specless.lifecycle}
    sqlite = measure_http(sqlite_url(folder), folder, "http", engines, args, counter)
    result.update({k: v for k, v in sqlite.items() if k != "concurrency"})
    result["ratio"] = ratio(result["http_ms"], result["engine_ms"])
    result["ratio_vs_specless"] = ratio(result["http_ms"], result["engine_specless_ms"])
    result["target_ratio_met"] = result["ratio"] <= 2.0
    if not args.quick:
        result["backend"] = "sqlite+postgresql"
        result["concurrency_sqlite"] = sqlite["concurrency"]
        url, drop = postgres_database("bench_lifecycle")
        try:
            pg = measure_http(url, folder, "http_pg", {"engine": engine.lifecycle}, args, counter)
        finally:
            drop()
        result["engine_ms_pg_run"] = pg["engine_ms"]
        result["http_pg_ms"] = pg["http_pg_ms"]
        result["http_pg_steps_ms"] = pg["http_pg_steps_ms"]
        result["ratio_pg"] = ratio(pg["http_pg_ms"], pg["engine_ms"])
        result["target_ratio_pg_met"] = result["ratio_pg"] <= 2.5
        result["concurrency_postgresql"] = pg["concurrency"]
    if args.profile:
        result["profile"] = profile_both(folder, engine, 30, counter)
    result["files"] = str(folder)
    lines = {
        "lifecycle, SpiffWorkflow alone": f"{result['engine_ms']} ms (spec-less state: {result['engine_specless_ms']} ms)",
        "lifecycle over HTTP, SQLite": f"{result['http_ms']} ms, ratio {result['ratio']} (target <= 2.0)",
    }
    if not args.quick:
        lines["lifecycle over HTTP, PostgreSQL"] = (
            f"{result['http_pg_ms']} ms, ratio {result['ratio_pg']} (target <= 2.5)"
        )
        for backend in ("sqlite", "postgresql"):
            load = result[f"concurrency_{backend}"]
            lines[f"{load['clients']} clients, {backend}"] = (
                f"{load['lifecycles_per_s']} lifecycles/s, step p95 {load['step_p95_ms']} ms"
            )
    headline(lines)
    emit(result)


if __name__ == "__main__":
    main()
