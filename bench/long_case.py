"""The cost of one step on a long-lived case: after 20 reopen cycles against a fresh case.

A reopened complaint goes round handling, reply and visit again; every round adds tasks to the
workflow. The step measured is the same on both cases: complete the repair task (load the state,
complete, run, project, save).

    python -m bench.long_case
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path

from .common import REOPEN_STEPS, START, STEPS, Stopwatch, machine, median
from .lifecycle import service

CYCLES = 20


def _complete(engine, case: dict, element: str, user: str, data: dict) -> tuple[dict, float]:
    task = next(t for t in case["tasks"] if t["element_id"] == element)
    watch = Stopwatch()
    case = engine.tasks.complete(engine.ctx.directory.users[user], task["id"], data)
    return case, watch.ms


def _case_at_repair(engine, cycles: int) -> dict:
    users = engine.ctx.directory.users
    case, _ = engine.cases.start(users["li.na"], "complaint", START)
    case, _ = _complete(engine, case, *STEPS[0])
    for _ in range(cycles):
        for element, user, data in REOPEN_STEPS:
            case, _ = _complete(engine, case, element, user, data)
    assert case["data"]["reopen_count"] == cycles
    return case


def _state_size(engine, case_id: str) -> int:
    from engine.store.models import Case

    with engine.db.unit_of_work(write=False) as uow:
        return len(uow.session.get(Case, case_id).state)


def main() -> None:
    argparse.ArgumentParser(prog="python -m bench.long_case").parse_args()
    workdir = Path(os.environ.get("BENCH_DIR", "/tmp")) / f"bench-long-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    engine = service(f"sqlite:///{workdir / 'bench.db'}")
    repair = STEPS[1]
    fresh_ms, long_ms = [], []
    sizes = {}
    for round_ in range(6):
        fresh = _case_at_repair(engine, 0)
        long = _case_at_repair(engine, CYCLES)
        if round_ == 0:
            sizes = {
                "fresh_state_bytes": _state_size(engine, fresh["id"]),
                "long_state_bytes": _state_size(engine, long["id"]),
            }
        for case, sink in ((fresh, fresh_ms), (long, long_ms)):
            _, ms = _complete(engine, case, *repair)
            sink.append(ms)
    engine.close()
    fresh_step, long_step = median(fresh_ms[1:]), median(long_ms[1:])
    print(
        json.dumps(
            {
                "machine": machine(),
                "cycles": CYCLES,
                "fresh_step_ms": round(fresh_step, 2),
                "step_after_cycles_ms": round(long_step, 2),
                "ratio": round(long_step / fresh_step, 2),
                **sizes,
            }
        )
    )


if __name__ == "__main__":
    main()
