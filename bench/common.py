"""What the benchmarks share: a users directory, the lifecycle's data, a live server, timing."""

from __future__ import annotations

import contextlib
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from engine.identity import Directory

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {
    "li.na": "agents",
    "wang.qiang": "technicians",
    "zhao.min": "after_sales_leads",
    "chen.jie": "managers",
    "sun.li": "supervisors",
    "zhou.hao": "process_owners",
    "callcentre": "integrations",
}

START = {
    "channel": "phone",
    "customer": {"id": "C-1001", "name": "张三", "phone": "13800000000", "tier": "ordinary"},
    "product": {"model": "EB-200", "serial": "SN123456", "purchase_date": "2026-11-01"},
    "problem": {"category": "product_quality", "issue_code": "EB200-BRAKE", "description": "刹车失灵"},
    "request": "repair",
}
# The repair-path lifecycle: (task element, user, form data).
STEPS = [
    ("register_complaint", "li.na", {"customer_contacted": True}),
    (
        "diagnose_and_repair",
        "wang.qiang",
        {"fault_found": "刹车线松动", "parts_replaced": ["刹车线"], "repaired": True},
    ),
    ("reply_to_customer", "li.na", {"reply_text": "已修好，感谢耐心等待"}),
    ("follow_up_visit", "li.na", {"satisfied": True, "satisfaction": 5}),
]
REOPEN_STEPS = [
    ("diagnose_and_repair", "wang.qiang", STEPS[1][2]),
    ("reply_to_customer", "li.na", STEPS[2][2]),
    ("follow_up_visit", "li.na", {"satisfied": False, "satisfaction": 2}),
]


def token(user: str) -> str:
    return f"bench-token-{user}-0123456789"


def directory() -> Directory:
    text = "users:\n" + "".join(
        f"  - username: {u}\n    groups: [{g}]\n    token: {token(u)}\n" for u, g in GROUPS.items()
    )
    return Directory.from_yaml(text)


def headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


@contextlib.contextmanager
def live_server(app, threads: int = 8) -> Iterator[str]:
    """The app behind waitress on a free port, in a thread of this process."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="bench")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


class Stopwatch:
    def __init__(self):
        self.started = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": nproc, "python": platform.python_version()}
