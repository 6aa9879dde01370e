"""The budget of one act: how long, and how much memory, a diagram's code may use in it.

An act (a case started, a task completed, a message delivered, timers fired) runs every script,
condition, timer expression and DMN cell it meets, and the helpers they call, against ONE budget:
a deadline set when the act starts and a ceiling on the process's memory growth since then.
The deadline is in the CPU time of the thread running the act, not wall-clock time: on a loaded
machine an ordinary act may wait for a core or for the GIL far longer than it computes, and must
not fail for that; what the budget bounds is how long a diagram's code keeps a core busy. Time the
interpreter spends in a full garbage collection during the act is not charged to it either (its
cost follows the size of the whole process, not what the act does): the deadline moves by it.
Sandboxed code checks it on every traced line (`engine.sandbox`), helpers and the working
calendar check it in their loops, so no part of an act can keep running past it.

The errors raised here are `SandboxLimit`s: deterministic failures of the diagram, which the
timer worker does not retry (running the same code on the same data fails the same way).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# How much the process may grow (resident memory) while one act runs a diagram's code.
ACT_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class SandboxLimit(Exception):
    """A diagram's code broke a rule of the sandbox: the same code on the same data always will."""


class ScriptTimeLimit(SandboxLimit, RuntimeError):
    """A script or expression ran past its act's time budget."""


class ScriptMemoryLimit(SandboxLimit, MemoryError):
    """A script or expression made the process grow past its act's memory budget."""


class SizeLimit(SandboxLimit, ValueError):
    """One operation would build a value too large to be worth building."""


class NotJsonData(SandboxLimit, TypeError):
    """A script left, or an expression gave, something case data cannot hold."""


def resident_bytes() -> int:
    """The process's resident memory now (Linux `/proc`; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class Budget:
    """The deadline and memory ceiling of one act."""

    seconds: float
    deadline: float
    memory_ceiling: int

    def check_time(self) -> None:
        if time.thread_time() > self.deadline:
            raise ScriptTimeLimit(f"the script ran longer than {self.seconds:g} s and was stopped")

    def check_memory(self) -> None:
        if self.memory_ceiling and resident_bytes() > self.memory_ceiling:
            limit = ACT_MEMORY_LIMIT_BYTES // (1024 * 1024)
            raise ScriptMemoryLimit(f"the script used more than {limit} MB of memory and was stopped")


_current = threading.local()


def new_budget(seconds: float) -> Budget:
    """A budget starting now: `seconds` of this thread's CPU time, and a memory ceiling above today's size."""
    rss = resident_bytes()
    return Budget(seconds, time.thread_time() + seconds, rss + ACT_MEMORY_LIMIT_BYTES if rss else 0)


def current_budget() -> Budget | None:
    """The budget of the act this thread is running, if any."""
    return getattr(_current, "budget", None)


@contextmanager
def act_budget(seconds: float) -> Iterator[Budget]:
    """Run an act under one budget; an act inside an act shares the outer one."""
    outer = current_budget()
    if outer is not None:
        yield outer
        return
    budget = new_budget(seconds)
    _current.budget = budget
    try:
        yield budget
    finally:
        _current.budget = None


def _pause_for_garbage_collection(phase: str, _info: dict) -> None:
    """gc callback: a collection during an act moves the act's deadline by the time it took."""
    budget = getattr(_current, "budget", None)
    if budget is None:
        return
    if phase == "start":
        _current.gc_started = time.thread_time()
    elif phase == "stop" and getattr(_current, "gc_started", None) is not None:
        budget.deadline += time.thread_time() - _current.gc_started
        _current.gc_started = None


gc.callbacks.append(_pause_for_garbage_collection)


def check_budget() -> None:
    """Raise if the current act has run out of time (called by helpers in their loops)."""
    budget = current_budget()
    if budget is not None:
        budget.check_time()
