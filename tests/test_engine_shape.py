"""The engine's shape, checked from its source: what issue 11 settled stays settled.

- engine/projection.py is the one module that writes a case's or a task's lifecycle state
  (status, terminal moments, timers, errors, the serialized workflow): a service that set
  `case.status = "cancelled"` itself would bypass the one place where those writes are kept
  consistent (the open tasks closed, the timers cleared, the event recorded).
- engine/ never imports Flask or the api package: the CLI, the worker and the tests reach every
  operation without HTTP.

These read the code with `ast` (no imports, no database), so they run in milliseconds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
# The columns that say where a case or a task is in its life. Only projection.py assigns them.
LIFECYCLE_ATTRIBUTES = {
    "status",
    "ended_at",
    "next_timer_at",
    "timers",
    "timer_failures",
    "error",
    "escalated",
    "completed_at",
    "completed_by",
    "state",
}
# projection.py writes them; the models declare them; migrations create them.
WRITERS = {ENGINE / "projection.py"}


def _engine_modules() -> list[Path]:
    return sorted(
        path
        for path in ENGINE.rglob("*.py")
        if "migrations" not in path.parts and path.name != "models.py" and path not in WRITERS
    )


def _assigned_attributes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, attribute) of every `x.attr = ...`, `x.attr += ...` and `x.attr: T = ...`."""
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and _root(part) not in ("self", "cls"):
                    found.append((node.lineno, part.attr))
    return found


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain starts from: `self` for `self.log.error` (an object's own
    in-memory state, not a row)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("path", _engine_modules(), ids=lambda p: str(p.relative_to(ENGINE)))
def test_only_projection_writes_lifecycle_state(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    writes = [
        f"{path.relative_to(ENGINE)}:{line} assigns .{name}"
        for line, name in _assigned_attributes(tree)
        if name in LIFECYCLE_ATTRIBUTES
    ]
    assert writes == [], "write these through engine/projection.py instead:\n" + "\n".join(writes)


def test_the_check_sees_a_lifecycle_write() -> None:
    """The checker itself: a service writing a case's status the old way is caught."""
    source = 'case.status = "cancelled"\nrow.completed_at = now\nself.log.error = 1\nview["status"] = 2\n'
    names = [name for _, name in _assigned_attributes(ast.parse(source))]
    assert names == ["status", "completed_at"]


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_never_imports_flask_or_api(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.append(node.module)
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"flask", "flask_smorest", "werkzeug", "api"}, f"{path} imports {roots}"
