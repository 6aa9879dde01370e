"""What the benchmarks share: users, the lifecycle's data, databases, timing and the machine.

The complaint lifecycle here is the repair path of `tests/flows.py`: start, register the
complaint (agents), diagnose and repair (technicians), reply to the customer (agents), a
satisfied follow-up visit (agents), completed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from engine.config import EngineConfig
from engine.core import Engine
from engine.identity import Directory

ROOT = Path(__file__).resolve().parents[1]
DEFINITION_DIRS = (ROOT / "processes", ROOT / "forms")
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WORK_ROOT = Path(os.environ.get("BENCH_DIR", "/tmp"))

GROUPS = {
    "li.na": "agents",
    "wang.qiang": "technicians",
    "zhao.min": "after_sales_leads",
    "chen.jie": "managers",
    "sun.li": "supervisors",
    "zhou.hao": "process_owners",
    "callcentre": "integrations",
}

# Bought outside the 三包 period: a case reopened again and again is repaired again (within the
# period, two failed repairs would send it to exchange or refund instead).
START: dict[str, Any] = {
    "channel": "phone",
    "customer": {"id": "C-1001", "name": "张三", "phone": "13800000000", "tier": "ordinary"},
    "product": {"model": "EB-200", "serial": "SN123456", "purchase_date": "2024-11-01"},
    "problem": {"category": "product_quality", "issue_code": "EB200-BRAKE", "description": "刹车失灵"},
    "request": "repair",
}
# What the service computes for a customer and issue code seen nowhere else (see `start_data`).
FACTS = {"repeat": False, "batch_ordinary_complaints": 1, "batch_vip_customers": 0}

Step = tuple[str, str, dict[str, Any]]
# The repair-path lifecycle after the start: (task element, user, form data).
STEPS: list[Step] = [
    ("register_complaint", "li.na", {"customer_contacted": True}),
    (
        "diagnose_and_repair",
        "wang.qiang",
        {"fault_found": "刹车线松动", "parts_replaced": ["刹车线"], "repaired": True},
    ),
    ("reply_to_customer", "li.na", {"reply_text": "已修好，感谢耐心等待"}),
    ("follow_up_visit", "li.na", {"satisfied": True, "satisfaction": 5}),
]
# One reopen cycle: handle again, reply again, and an unsatisfied visit (which reopens the case).
REOPEN_STEPS: list[Step] = [
    ("diagnose_and_repair", "wang.qiang", STEPS[1][2]),
    ("reply_to_customer", "li.na", STEPS[2][2]),
    ("follow_up_visit", "li.na", {"satisfied": False, "satisfaction": 2}),
]
STEP_NAMES = ["start", *(element for element, _user, _data in STEPS)]
RUN_TAG = uuid.uuid4().hex[:6]


def start_data(n: int) -> dict[str, Any]:
    """The start form of lifecycle `n`: its own customer and issue code.

    Each lifecycle must be classified alike. With one customer for all, the second complaint
    would be a `repeat` (urgent); with one issue code for many customers, the eleventh within an
    hour would be a `batch` (urgent). A fresh customer and issue code give `FACTS` every time.
    """
    data = copy.deepcopy(START)
    data["customer"]["id"] = f"C-{RUN_TAG}-{n:06d}"
    data["problem"]["issue_code"] = f"EB200-BRAKE-{RUN_TAG}-{n:06d}"
    return data


# ---- users


def token(user: str) -> str:
    return f"bench-token-{user}-0123456789"


def users_yaml() -> str:
    return "users:\n" + "".join(
        f"  - username: {u}\n    groups: [{g}]\n    token: {token(u)}\n" for u, g in GROUPS.items()
    )


def directory() -> Directory:
    return Directory.from_yaml(users_yaml())


def headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


# ---- databases and the engine


def workdir(name: str) -> Path:
    """A fresh folder for one run's files (SQLite databases, users file, profiles)."""
    path = WORK_ROOT / f"bench-{name}-{RUN_TAG}-{uuid.uuid4().hex[:4]}"
    path.mkdir(parents=True)
    return path


def sqlite_url(folder: Path, name: str = "bench") -> str:
    return f"sqlite:///{folder / f'{name}.db'}"


def service(database_url: str) -> Engine:
    """An engine on a migrated database with the shipped processes and forms deployed."""
    engine = Engine(EngineConfig(database_url=database_url), directory())
    engine.migrate()
    engine.deploy_folders(*DEFINITION_DIRS)
    return engine


def postgres_database(prefix: str = "bench") -> tuple[str, Callable[[], None]]:
    """A database of our own on the PostgreSQL server: (its URL, a function that drops it)."""
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{RUN_TAG}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


@contextlib.contextmanager
def temporary_postgres(prefix: str = "bench") -> Iterator[str]:
    """`postgres_database` as a context manager: yields the URL, drops the database at the end."""
    url, drop = postgres_database(prefix)
    try:
        yield url
    finally:
        drop()


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


# ---- timing and statistics


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def timed(fn: Callable[[], Any]) -> float:
    """Milliseconds one call of `fn` took."""
    watch = Stopwatch()
    fn()
    return watch.ms


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile, interpolated between the two nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = p / 100 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(values: list[float], digits: int = 2) -> dict[str, float]:
    """{p50, p95, n} of a list of milliseconds."""
    return {
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "n": len(values),
    }


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("nan")


# ---- the machine and the code measured


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def postgres_version() -> str | None:
    with contextlib.suppress(Exception):
        admin = create_engine(POSTGRES_ADMIN, connect_args={"connect_timeout": 3})
        try:
            with admin.connect() as connection:
                return connection.execute(text("SHOW server_version")).scalar()
        finally:
            admin.dispose()
    return None


def machine(with_postgres: bool = False) -> dict[str, Any]:
    """The machine, the software versions, and the commit measured (with its uncommitted files)."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "spiffworkflow": metadata.version("SpiffWorkflow"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        # Uncommitted changes outside bench/ are part of what was measured.
        "uncommitted": [
            line[3:] for line in _git("status", "--porcelain").splitlines() if "bench/" not in line
        ],
    }
    if with_postgres:
        info["postgresql"] = postgres_version()
    return info


def headline(lines: dict[str, Any]) -> None:
    """The figures that matter, for people, before the JSON."""
    width = max(len(key) for key in lines)
    for key, value in lines.items():
        print(f"{key:<{width}}  {value}")


def emit(result: dict[str, Any]) -> None:
    """The run's result: one JSON object, always the last line of output."""
    print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
