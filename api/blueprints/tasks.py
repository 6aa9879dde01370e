"""Task inboxes: list, read, claim, unclaim, complete."""

from __future__ import annotations

from ..auth import current_actor
from ..schemas import (
    CaseSchema,
    TaskCompleteSchema,
    TaskListArgs,
    TaskPageSchema,
    TaskSchema,
    TaskSummarySchema,
)
from . import Blueprint, engine, page_of

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Tasks")


@blp.route("")
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskPageSchema)
def list_tasks(args):
    """Tasks the caller may see: assigned to them, or open to one of their groups. Urgent first."""
    page = page_of(args)
    return engine().tasks.list(current_actor(), page, **args)


@blp.route("/<string:task_id>")
@blp.response(200, TaskSchema)
def get_task(task_id):
    """A task with its form (JSON Schema + UI schema) and data."""
    return engine().tasks.get(current_actor(), task_id)


@blp.route("/<string:task_id>/claim", methods=["POST"])
@blp.response(200, TaskSummarySchema)
def claim(task_id):
    """Take the task (409 if someone else holds it)."""
    return engine().tasks.claim(current_actor(), task_id)


@blp.route("/<string:task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskSummarySchema)
def unclaim(task_id):
    """Give the task back to its group."""
    return engine().tasks.unclaim(current_actor(), task_id)


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.arguments(TaskCompleteSchema)
@blp.response(200, CaseSchema)
def complete(body, task_id):
    """Complete the task with its form data; returns the case."""
    return engine().tasks.complete(current_actor(), task_id, body.get("data") or {})
