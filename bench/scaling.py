"""Does the service slow down as open cases pile up? Step and inbox latency at 1,000 and 100,000.

Two databases are built side by side, one per size, each with:
- four template cases (one at each stage of the repair path) and 40 cases of the measured agent
  (li.na), started through the engine: her inbox is the same at both sizes;
- clones of the templates (see `bench.seed`) up to the size: open cases at every stage (40 %
  waiting for registration, 25 % for the repair, 20 % for the reply, 15 % for the visit), owned by
  200 other agents, with 500 issue codes and a customer each.
Then `python -m api serve` runs on each, and the measurements alternate between the two:
- a step: the lifecycle's HTTP calls (start, register, repair, reply, visit) as the right users;
- the inbox: `GET /api/v1/tasks` as li.na (first page of 50, with the total); for information,
  a technician's too (every open repair task is unclaimed in it, so it grows with the backlog).
Reported: p50/p95 per size, and the ratios largest/smallest. Nothing is tuned for the run:
SQLite gets no ANALYZE (the service never runs one); PostgreSQL gets the ANALYZE its autovacuum
would run after a bulk load.

    python -m bench.scaling [--sizes 1000 100000] [--postgres] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from engine.core import Engine
from engine.store.models import Case

from . import seed
from .common import (
    STEP_NAMES,
    STEPS,
    Stopwatch,
    emit,
    headers,
    headline,
    machine,
    ratio,
    service,
    sqlite_url,
    summary,
    temporary_postgres,
    workdir,
)
from .server import Client, ServiceProcess

# (stage, steps taken to reach it, share of the clones)
STAGES = [
    ("register", [], 40),
    ("repair", STEPS[:1], 25),
    ("reply", STEPS[:2], 20),
    ("visit", STEPS[:3], 15),
]
AGENT_CASES = 40
INBOX_CALLS_PER_ROUND = 5
# The inbox measured (li.na, an agent), and for information a technician's: every repair task
# waits unclaimed for the technicians, so theirs grows with the backlog.
INBOXES = {"inbox": "li.na", "inbox_technician": "wang.qiang"}


def open_cases(engine: Engine) -> int:
    with engine.db.unit_of_work(write=False) as uow:
        return uow.session.execute(select(func.count()).where(Case.status == "running")).scalar()


def build(database_url: str, size: int) -> dict[str, Any]:
    """Migrate, deploy, start the real cases, clone up to `size` open cases; returns what it did."""
    watch = Stopwatch()
    engine = service(database_url)
    templates = []
    for n, (_stage, steps, share) in enumerate(STAGES, start=1):
        case = seed.start_case(engine, steps, n)
        templates.append((seed.Template.capture(engine, case["id"], seed.case_holes(case, n)), share))
    for n in range(AGENT_CASES):  # li.na's own cases, at every stage
        seed.start_case(engine, STAGES[n % len(STAGES)][1], 100 + n)
    missing = size - open_cases(engine)
    order = list(itertools.chain.from_iterable([t] * share for t, share in templates))

    def clone(index: int) -> dict:
        return order[index % len(order)].clone(**seed.identity_values("SCALE", index))

    written = seed.insert_clones(engine, (clone(i) for i in range(missing)))
    settle(engine)
    built = {"open_cases": open_cases(engine), "cloned": written, "build_s": round(watch.seconds, 1)}
    engine.close()
    return built


def settle(engine: Engine) -> None:
    """After a bulk load: checkpoint SQLite's WAL; on PostgreSQL, the ANALYZE autovacuum would run."""
    if engine.db.is_sqlite:
        raw = engine.db.write_engine.raw_connection()  # outside the engine's BEGIN IMMEDIATE
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    with engine.db.write_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def measure(clients: dict[int, Client], rounds: int, counter: Iterator[int]) -> dict[int, dict[str, int]]:
    """Alternate the sizes: per round, one lifecycle and a few reads of each inbox on each.

    The clients keep the timings; returns each inbox's total (the tasks it lists) per size.
    """
    totals: dict[int, dict[str, int]] = {size: {} for size in clients}
    for _ in range(rounds):
        for size, client in clients.items():
            client.lifecycle(next(counter))
            for label, user in INBOXES.items():
                for _ in range(INBOX_CALLS_PER_ROUND):
                    totals[size][label] = client.get(user, "/api/v1/tasks", label)["total"]
    return totals


def figures(samples: dict[str, list[float]]) -> dict[str, Any]:
    steps = [ms for name in STEP_NAMES for ms in samples.get(name, [])]
    return {
        "step_ms": summary(steps),
        "steps_ms": {name: summary(samples.get(name, [])) for name in STEP_NAMES},
        "inbox_ms": summary(samples["inbox"]),
        "inbox_technician_ms": summary(samples["inbox_technician"]),
    }


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    result = {
        "step_p50_ratio": ratio(large["step_ms"]["p50"], small["step_ms"]["p50"]),
        "step_p95_ratio": ratio(large["step_ms"]["p95"], small["step_ms"]["p95"]),
        "inbox_p50_ratio": ratio(large["inbox_ms"]["p50"], small["inbox_ms"]["p50"]),
        "inbox_p95_ratio": ratio(large["inbox_ms"]["p95"], small["inbox_ms"]["p95"]),
        "inbox_technician_p50_ratio": ratio(
            large["inbox_technician_ms"]["p50"], small["inbox_technician_ms"]["p50"]
        ),
        "step_ratio_by_step": {
            name: ratio(large["steps_ms"][name]["p50"], small["steps_ms"][name]["p50"]) for name in STEP_NAMES
        },
    }
    result["targets_met"] = {
        "step_ratio_le_1.2": result["step_p50_ratio"] <= 1.2,
        "inbox_ratio_le_1.2": result["inbox_p50_ratio"] <= 1.2,
        "inbox_p95_le_20ms": large["inbox_ms"]["p95"] <= 20,
    }
    return result


def run_backend(urls: dict[int, str], folder: Path, rounds: int, warmup: int) -> dict[str, Any]:
    built = {size: build(url, size) for size, url in urls.items()}
    with contextlib.ExitStack() as stack:
        clients = {
            size: Client(stack.enter_context(ServiceProcess(url, folder, name=f"serve-{size}")))
            for size, url in urls.items()
        }
        counter = itertools.count(1)
        measure(clients, warmup, counter)
        for client in clients.values():
            client.step_ms.clear()
        totals = measure(clients, rounds, counter)
        samples = {size: client.step_ms for size, client in clients.items()}
    sizes = sorted(urls)
    per_size = {
        size: {**built[size], "inbox_totals": totals[size], **figures(samples[size])} for size in sizes
    }
    return {
        "sizes": {str(size): per_size[size] for size in sizes},
        **compare(per_size[sizes[0]], per_size[sizes[-1]]),
    }


def summary_lines(backend: str, result: dict[str, Any]) -> dict[str, str]:
    small, large = (result["sizes"][size] for size in sorted(result["sizes"], key=int))
    return {
        f"{backend}: step p50 / p95": f"{small['step_ms']['p50']} / {small['step_ms']['p95']} ms at "
        f"{small['open_cases']}, {large['step_ms']['p50']} / {large['step_ms']['p95']} ms at "
        f"{large['open_cases']}: ratio {result['step_p50_ratio']} / {result['step_p95_ratio']}",
        f"{backend}: inbox p50 / p95": f"{small['inbox_ms']['p50']} / {small['inbox_ms']['p95']} ms, "
        f"{large['inbox_ms']['p50']} / {large['inbox_ms']['p95']} ms: ratio {result['inbox_p50_ratio']} / "
        f"{result['inbox_p95_ratio']}",
        f"{backend}: technician inbox p50": f"{small['inbox_technician_ms']['p50']} ms, "
        f"{large['inbox_technician_ms']['p50']} ms: ratio {result['inbox_technician_p50_ratio']}",
        f"{backend}: targets met": str(result["targets_met"]),
    }


def profile_large(url: str, folder: Path, calls: int) -> dict[str, Any]:
    """In-process profiles on the largest database: the inbox reads, then lifecycles."""
    from api import create_app

    from .lifecycle import InProcessClient
    from .profiling import report

    engine = service(url)
    client = InProcessClient(create_app(engine, engine.ctx.directory))
    reports = {}

    def inbox(user: str) -> None:
        for _ in range(calls):
            client.test_client.get("/api/v1/tasks", headers=headers(user))

    work = {label: partial(inbox, user) for label, user in INBOXES.items()}
    work["lifecycle"] = lambda: [client.lifecycle(10_000 + n) for n in range(calls // 5)]
    for name, run in work.items():
        reports[name] = report(run, folder, name, f"{name} at the largest size")
    engine.close()
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 100_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--rounds", type=int, default=30, help="alternation rounds (one lifecycle each)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument(
        "--profile", action="store_true", help="profile the inbox and a step at the largest size"
    )
    args = parser.parse_args()
    folder = workdir("scaling")
    result: dict[str, Any] = {"benchmark": "scaling", "machine": machine(with_postgres=args.postgres)}
    urls = {size: sqlite_url(folder, f"open-{size}") for size in args.sizes}
    result["sqlite"] = run_backend(urls, folder, args.rounds, args.warmup)
    if args.profile:
        result["sqlite"]["profile"] = profile_large(urls[max(args.sizes)], folder, 100)
    if args.postgres:
        with (
            temporary_postgres("bench_scale_small") as small,
            temporary_postgres("bench_scale_large") as large,
        ):
            pg_urls = dict(zip(sorted(args.sizes), (small, large), strict=True))
            result["postgresql"] = run_backend(pg_urls, folder, args.rounds, args.warmup)
    result["files"] = str(folder)
    for backend in ("sqlite", "postgresql"):
        if backend in result:
            headline(summary_lines(backend, result[backend]))
    emit(result)


if __name__ == "__main__":
    main()
