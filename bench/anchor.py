"""The anchor diagram over HTTP against SpiffWorkflow alone and a trivial request, in one run.

The anchor diagram (`bench/anchor/`, a copy of the shared one: start → `register` → DMN
`classify_decision` → gateway → `normal_handle` → script → end) is the small process this
service is compared with its peers on. Three runners alternate round by round after a warm-up:

- `engine`: SpiffWorkflow alone in this process on the same diagram: parsed once, and around
  every step the state serialized and deserialized again with SpiffWorkflow's own
  `BpmnWorkflowSerializer`, as a service must between requests;
- `http`: `python -m api serve` in a subprocess on a fresh database with the anchor diagram and
  its DMN and forms deployed, driven by a `requests.Session` (keep-alive) as li.na through the six
  requests of a lifecycle: start, list the case's tasks, complete `register`, list, complete the
  handling task, get the case;
- `trivial`: `GET /api/v1/health` on the same server and session (a request that does almost
  nothing: what HTTP, the WSGI server and Flask cost by themselves).

The headline is `overhead_ratio` = (http − 6 × trivial) / engine, medians per lifecycle: what the
service spends on one lifecycle beyond the wire, per unit of work SpiffWorkflow must do anyway.
`overhead_ratio_cpu` is the same in CPU time (the service process's, all threads, and this
thread's for SpiffWorkflow alone): steadier than wall time on a shared machine.
`--postgres` runs the HTTP side on PostgreSQL instead of SQLite; `--db-delay-ms 0.25` puts the
database a network hop away (`bench/db_delay.py`), where the number of round trips shows.
`--profile` adds pyinstrument profiles of the lifecycle in-process (Flask's test client) and of
the engine-only runner.

    python -m bench.anchor --quick
    python -m bench.anchor --postgres
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.config import EngineConfig
from engine.core import Engine

from .common import (
    ROOT,
    Stopwatch,
    directory,
    emit,
    headline,
    machine,
    median,
    percentile,
    postgres_database,
    sqlite_url,
    summary,
    workdir,
)
from .db_delay import delayed, round_trip_ms
from .lifecycle import Counter, Runner, alternate
from .server import Client, InProcessClient, ServiceProcess

ANCHOR_DIR = ROOT / "bench" / "anchor"
PROCESS = "anchor_complaint"
USER = "li.na"
# The lifecycle's two forms: an ordinary phone complaint (the DMN says "normal").
REGISTER = {"channel": "phone", "vip": False}
HANDLE = {"note": "called the customer back"}
REQUESTS_PER_LIFECYCLE = 6
STEP_NAMES = ("start", "list", "register", "list_again", "normal_handle", "get")


def deployed_service(database_url: str) -> None:
    """Migrate a fresh database and deploy the anchor diagram, its DMN and forms into it."""
    engine = Engine(EngineConfig(database_url=database_url), directory())
    try:
        engine.migrate()
        engine.deploy_folders(ANCHOR_DIR)
    finally:
        engine.close()


# ---- SpiffWorkflow alone


class AnchorEngineOnly:
    """The lifecycle with nothing but SpiffWorkflow: parse once, (de)serialize around each step."""

    def __init__(self) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_str(
            (ANCHOR_DIR / "anchor_complaint.bpmn").read_bytes(), filename="anchor_complaint.bpmn"
        )
        parser.add_dmn_str((ANCHOR_DIR / "classify.dmn").read_bytes(), filename="classify.dmn")
        self.spec = parser.get_spec(PROCESS)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS)
        self.script_engine = PythonScriptEngine()
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def _load(self, state: str) -> BpmnWorkflow:
        workflow = self.serializer.deserialize_json(state)
        workflow.script_engine = self.script_engine
        return workflow

    def _complete(self, state: str, element: str, data: dict) -> tuple[BpmnWorkflow, str]:
        workflow = self._load(state)
        task = next(
            t for t in workflow.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == element
        )
        task.data.update(copy.deepcopy(data))
        task.run()
        workflow.do_engine_steps()
        return workflow, self.serializer.serialize_json(workflow)

    def lifecycle(self, _n: int) -> float:
        """Start, register, handle: three (de)serializations, as between requests; returns ms."""
        watch = Stopwatch()
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        workflow.do_engine_steps()
        state = self.serializer.serialize_json(workflow)
        _workflow, state = self._complete(state, "register", REGISTER)
        workflow, state = self._complete(state, "normal_handle", HANDLE)
        if not workflow.is_completed() or workflow.data.get("closed") is not True:
            raise AssertionError("the engine-only lifecycle did not complete")
        return watch.ms


# ---- the service


class AnchorClient(Client):
    """The six requests of an anchor lifecycle, and the trivial request, as li.na."""

    def lifecycle(self, _n: int) -> float:
        """The six requests of one lifecycle; returns ms."""
        watch = Stopwatch()
        case = self.post(USER, "/api/v1/cases", {"process": PROCESS, "data": {}}, "start")
        for element, data, list_label in (
            ("register", REGISTER, "list"),
            ("normal_handle", HANDLE, "list_again"),
        ):
            tasks = self.get(USER, "/api/v1/tasks", list_label, params={"case_id": case["id"]})["items"]
            task = next(t for t in tasks if t["element_id"] == element)
            self.post(USER, f"/api/v1/tasks/{task['id']}/complete", {"data": data}, element)
        case = self.get(USER, f"/api/v1/cases/{case['id']}", "get")
        if case["status"] != "completed" or case["data"].get("closed") is not True:
            raise AssertionError(f"the lifecycle ended {case['status']}: {case.get('error')}")
        return watch.ms

    def trivial(self, _n: int) -> float:
        """One `GET /api/v1/health`; returns ms."""
        watch = Stopwatch()
        self.get(USER, "/api/v1/health", "trivial")
        return watch.ms


class InProcessAnchorClient(InProcessClient, AnchorClient):
    """The anchor lifecycle through Flask's test client, so a profiler in this thread sees the service."""


def profile_both(database_url: str, folder: Path, engine: AnchorEngineOnly, count: int) -> dict[str, Any]:
    """pyinstrument profiles of `count` lifecycles in-process and of the engine-only runner."""
    from api import create_app

    from .profiling import report

    built = Engine(EngineConfig(database_url=database_url), directory())
    client = InProcessAnchorClient(create_app(built, built.ctx.directory))
    reports = {}
    try:
        for name, run in (("http_in_process", client.lifecycle), ("engine", engine.lifecycle)):
            for n in range(3):
                run(n)
            work = lambda run=run: [run(n) for n in range(count)]  # noqa: E731
            reports[name] = report(work, folder, f"anchor-{name}", f"{name}: {count} lifecycles")
    finally:
        built.close()
    return reports


# ---- running


def process_cpu_ms(pid: int) -> float:
    """CPU time all threads of a process have run so far, in ms (Linux schedstat, ns resolution)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(stat.read_text().split()[0])
    return total / 1e6


def with_cpu(run: Runner, cpu_ms: Callable[[], float], into: list[float]) -> Runner:
    """`run`, also appending the CPU time `cpu_ms` counted during each call to `into`."""

    def timed_run(n: int) -> float:
        before = cpu_ms()
        wall = run(n)
        into.append(cpu_ms() - before)
        return wall

    return timed_run


def measure(database_url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The three runners alternated against a fresh database; every figure of the result."""
    deployed_service(database_url)
    engine = AnchorEngineOnly()
    counter = Counter()
    cpu: dict[str, list[float]] = {"engine": [], "http": [], "trivial": []}
    server = ServiceProcess(database_url, folder, name="anchor-serve")
    with server as url:
        client = AnchorClient(url)
        server_cpu = lambda pid=server.process.pid: process_cpu_ms(pid)  # noqa: E731
        engine_cpu = lambda: time.thread_time() * 1000  # noqa: E731
        runners = {
            "engine": with_cpu(engine.lifecycle, engine_cpu, cpu["engine"]),
            "http": with_cpu(client.lifecycle, server_cpu, cpu["http"]),
            "trivial": with_cpu(client.trivial, server_cpu, cpu["trivial"]),
        }
        alternate(runners, 1, args.warmup, counter)
        client.step_ms.clear()
        for values in cpu.values():
            values.clear()
        times = alternate(runners, args.rounds, args.per_round, counter)
        client.close()
    result: dict[str, Any] = {}
    for name, values in times.items():
        result[f"{name}_ms"] = round(median(values), 2)
        result[f"{name}_range_ms"] = [round(min(values), 2), round(max(values), 2)]
        result[f"{name}_p95_ms"] = round(percentile(values, 95), 2)
        result[f"{name}_cpu_ms"] = round(median(cpu[name]), 2)
    result["http_steps_ms"] = {name: summary(client.step_ms.get(name, [])) for name in STEP_NAMES}
    result["lifecycles_per_runner"] = len(times["http"])
    wire = REQUESTS_PER_LIFECYCLE * result["trivial_ms"]
    result["requests_per_lifecycle"] = REQUESTS_PER_LIFECYCLE
    result["overhead_ratio"] = round((result["http_ms"] - wire) / result["engine_ms"], 2)
    # The same ratio in CPU time, steadier on a shared machine: the service process's CPU (all its
    # threads; on PostgreSQL the database server's own CPU is not in it) and this thread's for
    # SpiffWorkflow alone.
    cpu_wire = REQUESTS_PER_LIFECYCLE * result["trivial_cpu_ms"]
    result["overhead_ratio_cpu"] = round((result["http_cpu_ms"] - cpu_wire) / result["engine_cpu_ms"], 2)
    if args.profile:
        result["profile"] = profile_both(database_url, folder, engine, 30)
    return result


def main() -> None:
    """Parse the options, run on SQLite or PostgreSQL, print the headline and the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.anchor", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few lifecycles (under a minute)")
    parser.add_argument("--postgres", action="store_true", help="the service on PostgreSQL, not SQLite")
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 6 quick, 20 full)")
    parser.add_argument("--per-round", type=int, default=5, help="lifecycles per runner per round")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up lifecycles per runner")
    parser.add_argument("--profile", action="store_true", help="also profile both sides with pyinstrument")
    parser.add_argument(
        "--db-delay-ms",
        type=float,
        default=0.0,
        help="PostgreSQL only: the service reaches the database through a relay adding this much each way",
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (6 if args.quick else 20)
    folder = workdir("anchor")
    result: dict[str, Any] = {
        "benchmark": "anchor",
        "quick": args.quick,
        "backend": "postgresql" if args.postgres else "sqlite",
        "machine": machine(with_postgres=args.postgres),
    }
    if args.db_delay_ms and not args.postgres:
        parser.error("--db-delay-ms needs --postgres (SQLite has no network hop)")
    if args.postgres:
        url, drop = postgres_database("bench_anchor")
        result["db_delay_ms"] = args.db_delay_ms
        try:
            with (
                delayed(url, args.db_delay_ms) if args.db_delay_ms else contextlib.nullcontext(url) as reached
            ):
                result["db_round_trip_ms"] = round_trip_ms(reached)
                result.update(measure(reached, folder, args))
        finally:
            drop()
    else:
        result.update(measure(sqlite_url(folder, "anchor"), folder, args))
    result["target"] = 2.5 if args.postgres else 2.0
    result["target_met"] = result["overhead_ratio"] <= result["target"]
    result["files"] = str(folder)
    headline(
        {
            "lifecycle, SpiffWorkflow alone": f"{result['engine_ms']} ms",
            f"lifecycle over HTTP, {result['backend']}": f"{result['http_ms']} ms ({REQUESTS_PER_LIFECYCLE} requests)",
            "trivial request (GET /api/v1/health)": f"{result['trivial_ms']} ms",
            "(lifecycle - requests x trivial) / engine-only": (
                f"{result['overhead_ratio']} (target <= {result['target']})"
            ),
            "the same in CPU time (service process / engine)": (
                f"{result['overhead_ratio_cpu']} ({result['http_cpu_ms']} ms, {result['trivial_cpu_ms']} ms, "
                f"{result['engine_cpu_ms']} ms)"
            ),
        }
    )
    emit(result)


if __name__ == "__main__":
    main()
