"""The timer worker: several workers never fire a timer twice; it wakes for the next due time;
a case that fails is recorded and retried with backoff without holding up the others."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import text

from engine.config import EngineConfig
from engine.core import Engine

from .probes import timer_then_script

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _timer_fired_counts(engine: Engine) -> Counter:
    with engine.db.unit_of_work(write=False) as uow:
        rows = uow.session.execute(text("SELECT case_id FROM case_events WHERE type = 'timer_fired'")).all()
    return Counter(case_id for (case_id,) in rows)


def test_three_workers_fire_each_due_timer_exactly_once(database_url, directory, api):
    cases = 30
    with time_machine.travel(datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI), tick=False) as clock:
        ids = [api.start(user="callcentre")["id"] for _ in range(cases)]
        clock.shift(timedelta(hours=25))
        workers = [Engine(EngineConfig(database_url=database_url), directory) for _ in range(3)]
        barrier = threading.Barrier(3)
        ran = [0, 0, 0]

        def work(index: int) -> None:
            barrier.wait()
            while True:
                fired = workers[index].timers.fire_due(limit=5)
                ran[index] += fired
                if not fired and not workers[index].timers.due_case_ids(datetime.now(SHANGHAI)):
                    return

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        counts = _timer_fired_counts(workers[0])
        for worker in workers:
            worker.close()
    assert sum(ran) == cases
    assert counts == Counter({case_id: 1 for case_id in ids})
    for case_id in ids:
        assert api.event_types(case_id).count("sla_breached") == 1
        assert [e["clock"] for e in api.case(case_id)["escalations"]] == ["acknowledge"]


def test_the_worker_wakes_for_the_next_due_time(engine, directory, api):
    engine.deployments.deploy(
        directory.users["zhou.hao"],
        {"probe_quick_timer.bpmn": timer_then_script("probe_quick_timer", '"PT1.5S"', "done = True")},
    )
    worker = engine.start_worker_thread()
    try:
        started = api.post(
            "/api/v1/cases", "li.na", json={"process": "probe_quick_timer", "data": {}}
        ).get_json()
        deadline = time.monotonic() + 8
        fired = []
        while time.monotonic() < deadline and not fired:
            fired = [e for e in api.events(started["id"]) if e["type"] == "timer_fired"]
            time.sleep(0.05)
    finally:
        worker.stop()
    assert fired, "the worker did not fire the timer"
    due = datetime.fromisoformat(fired[0]["detail"]["due_at"])
    lateness = (datetime.fromisoformat(fired[0]["at"]) - due).total_seconds()
    assert 0 <= lateness < 1.2, lateness
    assert api.open_elements(api.case(started["id"])) == ["check"]


def test_a_failing_case_is_recorded_retried_with_backoff_and_does_not_block_others(engine, directory, api):
    script = (
        'if now() < working_again_at:\n    raise ValueError("the supplier system is down")\nresult = "ok"'
    )
    engine.deployments.deploy(
        directory.users["zhou.hao"],
        {"probe_failing.bpmn": timer_then_script("probe_failing", '"PT1M"', script)},
    )
    start = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False) as clock:
        failing = api.post(
            "/api/v1/cases",
            "li.na",
            json={"process": "probe_failing", "data": {"working_again_at": "2026-11-16T10:01:05+08:00"}},
        ).get_json()
        healthy = api.post(
            "/api/v1/cases",
            "li.na",
            json={"process": "probe_failing", "data": {"working_again_at": "2026-11-16T09:00:00+08:00"}},
        ).get_json()
        clock.shift(timedelta(minutes=1, seconds=1))
        assert engine.timers.fire_due() == 2
        broken = api.case(failing["id"])
        assert broken["status"] == "error"
        assert broken["error"]["element_id"] == "after_wait"
        assert "supplier system is down" in broken["error"]["message"]
        assert api.case(healthy["id"])["status"] == "running"
        assert api.open_elements(api.case(healthy["id"])) == ["check"]
        # Backoff: not retried at once, but after 2 seconds; then 4 seconds.
        assert engine.timers.fire_due() == 0
        clock.shift(timedelta(seconds=2))
        assert engine.timers.fire_due() == 1
        assert api.case(failing["id"])["status"] == "error"
        clock.shift(timedelta(seconds=3))
        assert engine.timers.fire_due() == 0
        clock.shift(timedelta(seconds=1))
        assert engine.timers.fire_due() == 1  # 10:01:07: the supplier is back
        recovered = api.case(failing["id"])
    assert recovered["status"] == "running" and recovered["error"] is None
    assert api.open_elements(recovered) == ["check"]
    assert recovered["data"]["result"] == "ok"
    types = api.event_types(failing["id"])
    assert types.count("case_error") == 2 and types.count("case_retried") == 2
    assert types.count("timer_fired") == 1


def test_worker_command_stops_cleanly(engine):
    stop = threading.Event()
    thread = threading.Thread(target=engine.run_worker, args=(stop,))
    thread.start()
    time.sleep(0.1)
    stop.set()
    engine.timers.wakeup.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
