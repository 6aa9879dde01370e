"""A TCP relay that holds every chunk for a fixed delay in each direction: PostgreSQL one network
hop away, on a machine where the database listens on loopback.

On loopback a round trip to the database costs tens of microseconds, so the number of round trips
an act makes hardly shows; between two hosts of a data centre a round trip costs a few tenths of
a millisecond and dominates. The relay makes that visible in one run without `tc netem` (which
this machine's kernel lacks). It adds its own cost (a Python process copying bytes), the same for
every commit compared.

    python -m bench.db_delay 55432 5432 0.25      # listen on 55432, relay to 5432, +0.25 ms each way
"""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from .common import ROOT
from .server import free_port


def _wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"the relay did not listen on {port} within {timeout_s} s")


def _relay(source: socket.socket, sink: socket.socket, delay_s: float) -> None:
    """Copy `source` to `sink`, each chunk sent `delay_s` after it arrived, in order (threads and
    `time.sleep`, precise to a few tens of microseconds here; asyncio's timers round up to a
    millisecond)."""
    chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def send() -> None:
        while True:
            due, data = chunks.get()
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sink.sendall(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            chunks.put((time.monotonic() + delay_s, data))
    chunks.put((0.0, b""))
    sender.join()


def _serve(listen: int, target: int, delay_s: float) -> None:
    """Accept connections on `listen` and relay each to `target`, both ways, until killed."""
    with socket.create_server(("127.0.0.1", listen)) as server:
        while True:
            client, _address = server.accept()
            upstream = socket.create_connection(("127.0.0.1", target))
            for one in (client, upstream):
                one.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_relay, args=(source, sink, delay_s), daemon=True).start()


@contextlib.contextmanager
def delayed(database_url: str, delay_ms: float) -> Iterator[str]:
    """`database_url` reached through a relay that adds `delay_ms` each way; yields the new URL."""
    url = make_url(database_url)
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.db_delay", str(port), str(url.port or 5432), str(delay_ms)], cwd=ROOT
    )
    try:
        _wait_for_port(port)
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        relay.terminate()
        relay.wait()


def round_trip_ms(database_url: str, count: int = 200) -> float:
    """The median time of `SELECT 1` on one connection to `database_url`: what a round trip costs."""
    import psycopg

    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    times = []
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(count):
            start = time.perf_counter()
            connection.execute("SELECT 1")
            times.append((time.perf_counter() - start) * 1000)
    return round(sorted(times)[len(times) // 2], 3)


def main() -> None:
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    with contextlib.suppress(KeyboardInterrupt):
        _serve(listen, target, delay_ms / 1000)


if __name__ == "__main__":
    main()
