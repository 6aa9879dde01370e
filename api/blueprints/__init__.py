"""One blueprint per resource of the public contract (`../shared/API.md`)."""

from __future__ import annotations

import typing

import flask_smorest
from flask import current_app
from flask_smorest.utils import resolve_schema_instance

from engine.core import Engine
from engine.services.context import PageRequest

from ..json_body import StrictJSONParser


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint with strict JSON bodies (no NaN, no runaway nesting)."""

    ARGUMENTS_PARSER = StrictJSONParser()

    def arguments(self, schema: typing.Any, **kwargs: typing.Any) -> typing.Callable:
        """`@blp.arguments` with the schema built once, here, when given as a class.

        webargs instantiates a schema class on every request it parses (declared fields
        deep-copied each time); an instance is reused as it is. Loading keeps no state on the
        instance, so one per route serves every request and thread. The OpenAPI document names
        a schema by its class either way.
        """
        return super().arguments(resolve_schema_instance(schema), **kwargs)


def engine() -> Engine:
    return current_app.extensions["complaints.engine"]


def page_of(args: dict) -> PageRequest:
    return PageRequest(args.pop("page", 1), args.pop("per_page", 50))
