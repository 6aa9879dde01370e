"""Exceptions the engine raises for things a caller did or asked for.

Each maps to one HTTP status in `api.errors`; the engine itself knows nothing about HTTP.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error a caller can cause. `slug` names the problem type."""

    slug = "error"
    title = "Error"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class BadRequest(EngineError):
    slug = "bad-request"
    title = "Bad request"


class NotFound(EngineError):
    slug = "not-found"
    title = "Not found"


class Forbidden(EngineError):
    slug = "forbidden"
    title = "Forbidden"


class Conflict(EngineError):
    slug = "conflict"
    title = "Conflict"


class ValidationFailed(EngineError):
    """Valid JSON that breaks a schema or a rule; `errors` maps field paths to messages."""

    slug = "validation-failed"
    title = "Validation failed"


class DeploymentInvalid(EngineError):
    """A BPMN/DMN/form upload was refused; `problems` lists every problem found."""

    slug = "invalid-deployment"
    title = "Invalid deployment"

    def __init__(self, problems: list[dict]):
        super().__init__(f"{len(problems)} problem(s) found; nothing was deployed")
        self.problems = problems
