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


class PayloadTooLarge(EngineError):
    """An upload above its size limit (413)."""

    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(EngineError):
    """An upload whose content is not of an accepted type (415)."""

    slug = "unsupported-media-type"
    title = "Unsupported media type"


class Unavailable(EngineError):
    """A part the service depends on (e.g. the file store) cannot be used right now (503)."""

    slug = "unavailable"
    title = "Service unavailable"


class DeploymentInvalid(EngineError):
    """A BPMN/DMN/form upload was refused; `problems` lists every problem found."""

    slug = "invalid-deployment"
    title = "Invalid deployment"

    def __init__(self, problems: list[dict]):
        super().__init__(f"{len(problems)} problem(s) found; nothing was deployed")
        self.problems = problems
