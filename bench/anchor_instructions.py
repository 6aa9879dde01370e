"""The anchor lifecycle counted in CPU instructions (valgrind's callgrind), for comparing commits.

`bench.anchor` times the real thing over HTTP, but on this shared machine its figures drift by 10 %
and more within minutes, so a change worth 2 % cannot be told from noise. Instructions executed
do not drift: callgrind counts the same total for the same program and input, whatever else the
machine does. This benchmark runs, in one process under callgrind, after a warm-up:

- `service`: the anchor lifecycle's six requests through Flask's test client (the service's own
  work, and the test client's);
- `trivial`: `GET /api/v1/health` the same way (six per lifecycle are subtracted, as in
  `bench.anchor`);
- `engine`: SpiffWorkflow alone (`bench.anchor.AnchorEngineOnly`);

and reads the instructions of each phase from callgrind's dumps (`callgrind_control --dump`
between phases; an empty phase measures what a dump itself costs, and is subtracted). It prints
`instruction_ratio` = (service − 6 × trivial) / engine, and the per-unit counts.

What it does not see: time spent waiting (the disk, PostgreSQL's server, other processes), cache
misses, and anything HTTP and the WSGI server add. It is a tool for telling two commits apart on
the service's own work, not the issue's wall-clock target; run both commits, compare the counts.
Python's hash seed is fixed so that both runs walk their dictionaries alike.

    python -m bench.anchor_instructions              # SQLite, about two minutes
    python -m bench.anchor_instructions --postgres
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import ROOT, emit, headline, machine, postgres_database, sqlite_url, workdir

PHASES = ("nothing", "service", "trivial", "engine")


def _dump(label: str) -> None:
    """Close callgrind's current phase under `label` (one dump file each)."""
    subprocess.run(
        ["callgrind_control", f"--dump={label}", str(os.getpid())], check=True, capture_output=True
    )


def inner(database_url: str, lifecycles: int) -> None:
    """The phases, run in this process under callgrind."""
    from api import create_app
    from engine.config import EngineConfig
    from engine.core import Engine

    from .anchor import AnchorEngineOnly, InProcessAnchorClient, deployed_service
    from .common import directory

    deployed_service(database_url)
    built = Engine(EngineConfig(database_url=database_url), directory())
    client = InProcessAnchorClient(create_app(built, built.ctx.directory))
    engine = AnchorEngineOnly()
    for n in range(3):  # caches, prepared statements, imports done late
        client.lifecycle(n)
        client.trivial(n)
        engine.lifecycle(n)
    _dump("setup")
    _dump("nothing")
    for n in range(lifecycles):
        client.lifecycle(n)
    _dump("service")
    for n in range(lifecycles * 6):
        client.trivial(n)
    _dump("trivial")
    for n in range(lifecycles):
        engine.lifecycle(n)
    _dump("engine")
    built.close()


def _phase_counts(folder: Path) -> dict[str, int]:
    """Instructions per phase, read from the dump files callgrind wrote in `folder`."""
    counts: dict[str, int] = {}
    for path in folder.glob("callgrind.out.*"):
        label, total = None, None
        with path.open(encoding="utf-8", errors="replace") as dump:
            for line in dump:
                if line.startswith("desc: Trigger:"):
                    found = re.search(r"dump (\w+)", line)
                    label = found.group(1) if found else None
                elif line.startswith("summary:"):
                    total = int(line.split()[1])
                    break
        if label in PHASES and total is not None:
            counts[label] = total
    missing = [phase for phase in PHASES if phase not in counts]
    if missing:
        raise RuntimeError(f"callgrind wrote no dump for {missing}; see {folder}")
    return counts


def measure(database_url: str, folder: Path, lifecycles: int) -> dict[str, Any]:
    """Run the phases under callgrind; the instructions per unit and the ratio."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--cache-sim=no",
        f"--callgrind-out-file={folder / 'callgrind.out.%p'}",
        sys.executable,
        "-m",
        "bench.anchor_instructions",
        "--inner",
        database_url,
        "--lifecycles",
        str(lifecycles),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    counts = _phase_counts(folder)
    per_dump = counts["nothing"]
    service = (counts["service"] - per_dump) / lifecycles
    trivial = (counts["trivial"] - per_dump) / (lifecycles * 6)
    engine = (counts["engine"] - per_dump) / lifecycles
    return {
        "lifecycles": lifecycles,
        "service_instructions": round(service),
        "trivial_instructions": round(trivial),
        "engine_instructions": round(engine),
        "dump_instructions": per_dump,
        "instruction_ratio": round((service - 6 * trivial) / engine, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.anchor_instructions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--postgres", action="store_true", help="the service on PostgreSQL, not SQLite")
    parser.add_argument("--lifecycles", type=int, default=10, help="lifecycles per phase (default 10)")
    parser.add_argument("--inner", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.inner, args.lifecycles)
        return
    folder = workdir("anchor-instructions")
    result: dict[str, Any] = {
        "benchmark": "anchor_instructions",
        "backend": "postgresql" if args.postgres else "sqlite",
        "machine": machine(with_postgres=args.postgres),
    }
    if args.postgres:
        url, drop = postgres_database("bench_anchor_instr")
        try:
            result.update(measure(url, folder, args.lifecycles))
        finally:
            drop()
    else:
        result.update(measure(sqlite_url(folder, "anchor"), folder, args.lifecycles))
    result["files"] = str(folder)
    headline(
        {
            "service, per lifecycle (6 requests)": f"{result['service_instructions']:,} instructions",
            "trivial request": f"{result['trivial_instructions']:,} instructions",
            "SpiffWorkflow alone, per lifecycle": f"{result['engine_instructions']:,} instructions",
            "(service - 6 x trivial) / engine-only": f"{result['instruction_ratio']}",
        }
    )
    emit(result)


if __name__ == "__main__":
    main()
