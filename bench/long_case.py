"""The cost of one step on a long-lived case: after 20 reopen cycles, against a fresh case.

A reopened complaint goes round handling, reply and visit again (an unsatisfied visit reopens
it). Each round, a fresh case (registered, nothing else) and a long one (registered, then 20
unsatisfied rounds) take the same last round — repair, reply, a satisfied visit — step by step
in turn, through the engine's services (`TaskService.complete`: load the state, complete the
task, run, write the projections, save). Reported: the median of each step on each case, their
ratios, and the size of the stored state.

    python -m bench.long_case [--cycles 20] [--rounds 15] [--postgres] [--profile]
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.core import Engine
from engine.store.models import Case

from .common import (
    REOPEN_STEPS,
    STEPS,
    Step,
    Stopwatch,
    emit,
    headline,
    machine,
    median,
    ratio,
    service,
    sqlite_url,
    start_data,
    temporary_postgres,
    workdir,
)

# The round measured on both cases: repair, reply, and a visit that closes the case.
MEASURED: list[Step] = [*REOPEN_STEPS[:2], STEPS[3]]


class Cases:
    """Starts and moves cases through the engine's services, as the right users."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.users = engine.ctx.directory.users
        self.count = 0

    def complete(self, case: dict, step: Step) -> tuple[dict, float]:
        element, user, data = step
        task = next(t for t in case["tasks"] if t["element_id"] == element)
        watch = Stopwatch()
        case = self.engine.tasks.complete(self.users[user], task["id"], data)
        return case, watch.ms

    def at_repair(self, cycles: int) -> dict:
        """A registered case, after `cycles` unsatisfied rounds: waiting for the repair again."""
        self.count += 1
        case, _ = self.engine.cases.start(self.users["li.na"], "complaint", start_data(self.count))
        case, _ = self.complete(case, STEPS[0])
        for _ in range(cycles):
            for step in REOPEN_STEPS:
                case, _ = self.complete(case, step)
        if case["data"].get("reopen_count", 0) != cycles:
            raise AssertionError(f"expected {cycles} reopens, got {case['data'].get('reopen_count')}")
        return case

    def state_bytes(self, case_id: str) -> int:
        with self.engine.db.unit_of_work(write=False) as uow:
            return len(uow.session.get(Case, case_id).state.encode())


def measure(engine: Engine, cycles: int, rounds: int) -> dict[str, Any]:
    cases = Cases(engine)
    times: dict[str, dict[str, list[float]]] = {"fresh": {}, "long": {}}
    sizes: dict[str, int] = {}
    for round_ in range(rounds + 1):  # round 0 warms up
        current = {"fresh": cases.at_repair(0), "long": cases.at_repair(cycles)}
        if round_ == 0:
            sizes = {f"{kind}_state_bytes": cases.state_bytes(c["id"]) for kind, c in current.items()}
        for step in MEASURED:
            for kind in ("fresh", "long"):
                current[kind], ms = cases.complete(current[kind], step)
                if round_:
                    times[kind].setdefault(step[0], []).append(ms)
        if any(c["status"] != "completed" for c in current.values()):
            raise AssertionError("the measured round did not close both cases")
    return {"times": times, **sizes}


def summarise(measured: dict[str, Any], cycles: int) -> dict[str, Any]:
    times = measured["times"]
    steps = {
        element: {
            "fresh_ms": round(median(times["fresh"][element]), 2),
            "long_ms": round(median(times["long"][element]), 2),
            "ratio": ratio(median(times["long"][element]), median(times["fresh"][element])),
        }
        for element, _user, _data in MEASURED
    }
    fresh = sum(s["fresh_ms"] for s in steps.values())
    long = sum(s["long_ms"] for s in steps.values())
    worst = max(s["ratio"] for s in steps.values())
    return {
        "cycles": cycles,
        "samples_per_step": len(times["fresh"][MEASURED[0][0]]),
        "steps": steps,
        "fresh_round_ms": round(fresh, 2),
        "long_round_ms": round(long, 2),
        "ratio": ratio(long, fresh),
        "worst_step_ratio": worst,
        "target_met": worst <= 2.0,
        **{k: v for k, v in measured.items() if k.endswith("_bytes")},
    }


def profile_steps(engine: Engine, cycles: int, folder, count: int) -> dict[str, Any]:
    """pyinstrument over `count` repair steps on long cases, and on fresh ones."""
    from .profiling import report

    cases = Cases(engine)
    reports = {}
    for kind, cycles_ in (("long", cycles), ("fresh", 0)):
        ready = [cases.at_repair(cycles_) for _ in range(count)]
        work = lambda ready=ready: [cases.complete(c, MEASURED[0]) for c in ready]  # noqa: E731
        reports[kind] = report(work, folder, f"{kind}-step", f"repair step on {kind} cases ({count})")
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.long_case", description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="profile the repair step (SQLite)")
    args = parser.parse_args()
    folder = workdir("long-case")
    result: dict[str, Any] = {"benchmark": "long_case", "machine": machine(with_postgres=args.postgres)}
    engine = service(sqlite_url(folder))
    result["sqlite"] = summarise(measure(engine, args.cycles, args.rounds), args.cycles)
    if args.profile:
        result["profile"] = profile_steps(engine, args.cycles, folder, 20)
    engine.close()
    if args.postgres:
        with temporary_postgres("bench_long_case") as url:
            engine = service(url)
            result["postgresql"] = summarise(measure(engine, args.cycles, args.rounds), args.cycles)
            engine.close()
    result["files"] = str(folder)
    for backend in ("sqlite", "postgresql"):
        if backend in result:
            figures = result[backend]
            headline(
                {
                    f"{backend}: a round after {figures['cycles']} reopens / fresh": (
                        f"{figures['long_round_ms']} / {figures['fresh_round_ms']} ms = {figures['ratio']}x "
                        f"(worst step {figures['worst_step_ratio']}x, target <= 2)"
                    )
                }
            )
    emit(result)


if __name__ == "__main__":
    main()
