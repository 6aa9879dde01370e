"""Where the time goes: pyinstrument around a piece of work, summarised for the engine's owners.

`profile(work)` samples the calling thread only, so the work must run in it (the benchmarks use
Flask's test client or the engine's services in-process for that). The summary lists:
- `inclusive`: functions by the time spent in them and everything they called (each function
  counted once per stack, so recursion does not inflate it), as a share of the whole;
- `self`: functions by the time spent in their own code (C built-ins are listed on their own);
- `packages`: self time by package (engine, api, sqlalchemy, SpiffWorkflow, the stdlib's json…),
  the time of C built-ins charged to the package that called them.
The full call tree goes to a text file beside the run's other files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session

INTERVAL_S = 0.0002
_SITE = re.compile(r"site-packages/([^/]+)")
_STDLIB = re.compile(r"python3\.\d+/([^/]+?)(?:\.py)?(?:/|$)")


def profile(work: Callable[[], Any], interval: float = INTERVAL_S) -> Session:
    profiler = Profiler(interval=interval, async_mode="disabled")
    profiler.start()
    try:
        work()
    finally:
        profiler.stop()
    return profiler.last_session


def _label(frame: Frame) -> str:
    if frame.file_path and frame.file_path.startswith("<"):
        return f"{frame.function} [C]"
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def package_of(path: str | None) -> str:
    path = path or ""
    if path.startswith("<"):
        return "C built-ins"
    site = _SITE.search(path)
    if site:
        return site.group(1).removesuffix(".py")
    for local in ("engine", "api", "bench"):
        if f"/{local}/" in path or path.startswith(f"{local}/"):
            return local
    stdlib = _STDLIB.search(path)
    return f"stdlib {stdlib.group(1)}" if stdlib else path


def _real_children(frame: Frame) -> list[Frame]:
    return [child for child in frame.children if not child.is_synthetic]


def _walk(frame: Frame, stack: set[str], caller_pkg: str, acc: dict[str, dict[str, float]]) -> None:
    label = _label(frame)
    own_pkg = package_of(frame.file_path)
    is_builtin = own_pkg == "C built-ins"
    self_time = frame.time - sum(child.time for child in _real_children(frame))
    acc["self"][label] += self_time
    acc["packages"][f"{caller_pkg} (C)" if is_builtin else own_pkg] += self_time
    if label not in stack:
        acc["inclusive"][label] += frame.time
    for child in _real_children(frame):
        _walk(child, stack | {label}, caller_pkg if is_builtin else own_pkg, acc)


def _top(values: dict[str, float], total: float, top: int, skip_whole: bool = False) -> list[list]:
    rows = sorted(values.items(), key=lambda item: -item[1])
    if skip_whole:  # the frames that wrap the whole run say nothing
        rows = [row for row in rows if row[1] < 0.9 * total]
    return [[name, round(100 * seconds / total, 1)] for name, seconds in rows[:top]]


def hotspots(session: Session, top: int = 20) -> dict[str, Any]:
    """The summary described in the module docstring; shares in percent of the sampled time."""
    root = session.root_frame()
    if root is None:
        return {"seconds": 0.0}
    acc: dict[str, dict[str, float]] = {key: defaultdict(float) for key in ("self", "packages", "inclusive")}
    _walk(root, set(), package_of(root.file_path), acc)
    total = root.time
    return {
        "seconds": round(total, 3),
        "inclusive": _top(acc["inclusive"], total, top, skip_whole=True),
        "self": _top(acc["self"], total, top),
        "packages": _top(acc["packages"], total, top),
    }


def save_tree(session: Session, path: Path) -> None:
    text = ConsoleRenderer(unicode=True, color=False, show_all=False).render(session)
    path.write_text(text, encoding="utf-8")


def print_hotspots(title: str, report: dict[str, Any]) -> None:
    print(f"\n== profile: {title} ({report['seconds']} s sampled)")
    for key in ("inclusive", "self", "packages"):
        print(f"  -- {key}")
        for name, share in report.get(key, []):
            print(f"    {share:5.1f}%  {name}")


def report(work: Callable[[], Any], folder: Path, name: str, title: str) -> dict[str, Any]:
    """Profile `work`, write its tree to `folder/profile-<name>.txt`, print and return its hot spots."""
    session = profile(work)
    save_tree(session, folder / f"profile-{name}.txt")
    spots = hotspots(session)
    print_hotspots(title, spots)
    return spots
