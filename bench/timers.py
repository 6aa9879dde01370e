"""10,000 due timers fired by the timer worker(s): how fast, how late, and each exactly once.

The cases wait on their acknowledgement timer (`ack_due`, 24 h after the complaint came in);
they are clones of one real case (see `bench.seed`) whose due time is moved as the engine would
have set it: in the state's timer, the data, the open task, `timers` and `next_timer_at`. The
workers are `python -m api worker` processes (`TimerService.run`, which calls `fire_due`), started
and idle before any timer falls due, so their start-up is not measured. Two runs per backend:
- burst: all 10,000 fall due at the same second; total = last fired − due;
- stream: 10,000 fall due evenly over 30 s (the target rate), so a worker that keeps up fires
  each within a second of its due time.
Lateness = the moment a worker took the case (the `timer_fired` event's time) − its due time.
Exactly once: every case has one `timer_fired` event, and there are no others.
SQLite with one worker; PostgreSQL (unless --no-postgres) with 2 and with 3 workers.

    python -m bench.timers [--timers 10000] [--stream-seconds 30] [--no-postgres] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from engine.core import Engine
from engine.store.models import LIVE_CASE, Case

from . import seed
from .common import (
    ROOT,
    Stopwatch,
    emit,
    headline,
    machine,
    percentile,
    service,
    sqlite_url,
    temporary_postgres,
    workdir,
)

WORKER_READY = "Timer worker running"
# Give up when no timer fires for this long (the first is due within a minute of writing).
STALL_S = 120
POLL_S = 0.25


class Workers:
    """`python -m api worker` processes on one database; a context manager."""

    def __init__(self, database_url: str, count: int, folder: Path, name: str):
        self.env = {**os.environ, "COMPLAINTS_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
        self.logs = [folder / f"{name}-worker-{i}.log" for i in range(count)]
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Workers:
        for log in self.logs:
            with log.open("w") as out:
                command = [sys.executable, "-m", "api", "worker"]
                self.processes.append(
                    subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + 90
        while not all(WORKER_READY in log.read_text() for log in self.logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a worker did not start; see {self.logs}")
            time.sleep(0.2)
        return self

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            process.terminate()  # the worker stops cleanly on SIGTERM
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def capture_template(engine: Engine) -> seed.Template:
    case = seed.start_case(engine, [], 1)
    template = seed.Template.capture(engine, case["id"], seed.due_holes(case, 1))
    with engine.db.unit_of_work(write=True) as uow:  # the template's own timer is not part of a run
        uow.session.execute(text("UPDATE cases SET next_timer_at = NULL WHERE id = :id"), {"id": case["id"]})
    return template


def schedule(engine: Engine, template: seed.Template, label: str, dues: list[datetime]) -> float:
    """Write one clone per due time (one transaction); returns the seconds it took."""
    watch = Stopwatch()
    timezone = engine.calendar.tz

    def values(index: int) -> dict[str, str]:
        return {**seed.identity_values(label, index), **seed.due_values(dues[index], timezone)}

    seed.insert_clones(engine, seed.clones(template, len(dues), values))
    return watch.seconds


def fired_events(engine: Engine, label: str) -> list[tuple[str, datetime, datetime]]:
    """(case id, fired at, due at) of every `timer_fired` event of the run's cases."""
    query = text(
        "SELECT e.case_id, e.at, e.detail FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE e.type = 'timer_fired' AND c.business_key LIKE :prefix"
    )
    with engine.db.unit_of_work(write=False) as uow:
        rows = uow.session.execute(query, {"prefix": f"{label}-%"}).all()
    events = []
    for case_id, at, detail in rows:
        detail = json.loads(detail) if isinstance(detail, str) else detail
        at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        events.append((case_id, at, datetime.fromisoformat(detail["due_at"])))
    return events


def count_unfired(engine: Engine, last_due: datetime) -> int:
    """Cases of the run still waiting on their timer (a fired case waits on a later one).

    Read through the workers' own partial index, so watching costs the workers little.
    """
    query = select(func.count()).select_from(Case).where(Case.next_timer_at <= last_due, text(LIVE_CASE))
    with engine.db.unit_of_work(write=False) as uow:
        return uow.session.execute(query).scalar()


def wait_all_fired(engine: Engine, dues: list[datetime]) -> None:
    """Until every timer of the run has fired; fails when none fires for STALL_S seconds."""
    last_due, expected = max(dues), len(dues)
    done, progress_at = 0, time.monotonic()
    while done < expected:
        time.sleep(POLL_S)
        now_done = expected - count_unfired(engine, last_due)
        if now_done > done:
            done, progress_at = now_done, time.monotonic()
        elif time.monotonic() - progress_at > STALL_S:
            raise TimeoutError(f"{done} of {expected} timers fired, then none for {STALL_S} s")
    time.sleep(1.0)  # a duplicate would show up now


def run_once(engine: Engine, template: seed.Template, label: str, dues: list[datetime]) -> dict[str, Any]:
    seeded_s = schedule(engine, template, label, dues)
    if datetime.now(UTC) > min(dues):
        raise RuntimeError(f"{label}: writing the cases took {seeded_s:.1f} s, past the first due time")
    wait_all_fired(engine, dues)
    events = fired_events(engine, label)
    late = [(at - due).total_seconds() for _case, at, due in events]
    per_case = Counter(case for case, _at, _due in events)
    first_due = min(dues).replace(microsecond=0)
    last_fired = max(at for _case, at, _due in events)
    return {
        "timers": len(dues),
        "seconds": round((last_fired - first_due).total_seconds(), 2),
        "per_second": round(len(dues) / max(1e-9, (last_fired - first_due).total_seconds()), 1),
        "lateness_s": {
            "p50": round(percentile(late, 50), 3),
            "p95": round(percentile(late, 95), 3),
            "p99": round(percentile(late, 99), 3),
            "max": round(max(late), 3),
        },
        "fired_once": len(per_case) == len(dues) and set(per_case.values()) == {1},
        "timer_fired_events": len(events),
        "seeding_s": round(seeded_s, 1),
    }


def lead_time(count: int) -> timedelta:
    """Time to write `count` cases before the first falls due (about 1.5 ms a case, doubled)."""
    return timedelta(seconds=5 + count * 0.003)


def run_backend(database_url: str, workers: int, folder: Path, args: argparse.Namespace) -> dict:
    engine = service(database_url)
    template = capture_template(engine)
    result: dict[str, Any] = {"workers": workers}
    with Workers(database_url, workers, folder, f"w{workers}"):
        start = datetime.now(UTC) + lead_time(args.timers)
        result["burst"] = run_once(engine, template, f"BURST{workers}", [start] * args.timers)
        start = datetime.now(UTC) + lead_time(args.timers)
        step = args.stream_seconds / args.timers
        dues = [start + timedelta(seconds=i * step) for i in range(args.timers)]
        result["stream"] = run_once(engine, template, f"STREAM{workers}", dues)
        result["stream"]["rate_per_s"] = round(args.timers / args.stream_seconds, 1)
    engine.close()
    return result


def targets(run: dict[str, Any]) -> dict[str, bool]:
    return {
        "burst_le_30s": run["burst"]["seconds"] <= 30,
        "stream_lateness_p99_le_1s": run["stream"]["lateness_s"]["p99"] <= 1,
        "fired_once": run["burst"]["fired_once"] and run["stream"]["fired_once"],
    }


def profile_fire(folder: Path, count: int) -> dict[str, Any]:
    """`TimerService.fire_due` in this thread on `count` due cases (SQLite), profiled."""
    from .profiling import report

    engine = service(sqlite_url(folder, "profile"))
    template = capture_template(engine)
    schedule(engine, template, "PROFILE", [datetime.now(UTC) - timedelta(seconds=5)] * count)

    def fire_all() -> None:
        while engine.timers.fire_due():
            pass

    spots = report(fire_all, folder, "fire_due", f"fire_due, {count} due cases, SQLite")
    engine.close()
    return spots


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.timers", description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--stream-seconds", type=float, default=30)
    parser.add_argument("--pg-workers", type=int, nargs="*", default=[2, 3])
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile fire_due in-process (SQLite)")
    args = parser.parse_args()
    folder = workdir("timers")
    result: dict[str, Any] = {"benchmark": "timers", "machine": machine(with_postgres=not args.no_postgres)}
    runs = {"sqlite_1_worker": run_backend(sqlite_url(folder), 1, folder, args)}
    if not args.no_postgres:
        for workers in args.pg_workers:
            with temporary_postgres("bench_timers") as url:
                runs[f"postgresql_{workers}_workers"] = run_backend(url, workers, folder, args)
    for run in runs.values():
        run["targets_met"] = targets(run)
    result["runs"] = runs
    if args.profile:
        result["profile"] = profile_fire(folder, 1000)
    result["files"] = str(folder)
    for name, run in runs.items():
        for kind in ("burst", "stream"):
            figures = run[kind]
            late = figures["lateness_s"]
            headline(
                {
                    f"{name}, {kind}": f"{figures['timers']} timers in {figures['seconds']} s, lateness "
                    f"p50/p95/p99 {late['p50']}/{late['p95']}/{late['p99']} s, once each: {figures['fired_once']}"
                }
            )
    emit(result)


if __name__ == "__main__":
    main()
