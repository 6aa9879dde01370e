"""One blueprint per resource of the public contract (`../shared/API.md`)."""

from __future__ import annotations

from flask import current_app

from engine.core import Engine
from engine.services.common import PageRequest


def engine() -> Engine:
    return current_app.extensions["complaints.engine"]


def page_of(args: dict) -> PageRequest:
    return PageRequest(args.pop("page", 1), args.pop("per_page", 50))
