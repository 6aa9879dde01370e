"""One blueprint per resource of the public contract (`../shared/API.md`)."""

from __future__ import annotations

import flask_smorest
from flask import current_app

from engine.core import Engine
from engine.services.context import PageRequest

from ..json_body import StrictJSONParser


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint with strict JSON bodies (no NaN, no runaway nesting)."""

    ARGUMENTS_PARSER = StrictJSONParser()


def engine() -> Engine:
    return current_app.extensions["complaints.engine"]


def page_of(args: dict) -> PageRequest:
    return PageRequest(args.pop("page", 1), args.pop("per_page", 50))
