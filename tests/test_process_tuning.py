"""The service and worker processes tune CPython's garbage collector once set up
(`api.cli.tune_garbage_collector`): what was built at start-up is left out of the collector's
walks, young objects are collected less often, and garbage cycles are still freed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import gc, json, weakref
import api  # the service as `serve` imports it: Flask, SQLAlchemy, SpiffWorkflow, the engine
from api.cli import GC_THRESHOLDS, tune_garbage_collector

tracked_before = len(gc.get_objects())
tune_garbage_collector()
tracked_after = len(gc.get_objects())

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle: only the collector can free it
gone = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({
    "thresholds": list(gc.get_threshold()),
    "expected": list(GC_THRESHOLDS),
    "frozen": gc.get_freeze_count(),
    "before": tracked_before,
    "after": tracked_after,
    "enabled": gc.isenabled(),
    "cycle_freed": gone() is None,
}))
"""


def test_start_up_objects_are_frozen_and_cycles_are_still_collected() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["thresholds"] == seen["expected"] and seen["thresholds"][0] > 700
    # What start-up built is out of the collector's walks, and stays alive.
    assert seen["frozen"] > 10_000 and seen["after"] < seen["before"] / 10
    assert seen["enabled"] and seen["cycle_freed"]
