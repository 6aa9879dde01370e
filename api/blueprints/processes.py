"""Deployed process definitions and their versions (read side)."""

from __future__ import annotations

from flask import Response

from ..auth import current_actor
from ..schemas import PageArgs, ProcessPageSchema, ProcessSchema
from . import Blueprint, engine, page_of

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes", description="Process definitions")


@blp.route("")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProcessPageSchema)
def list_processes(args):
    """Every deployed process key with its newest version."""
    return engine().deployments.processes(current_actor(), page_of(args))


@blp.route("/<string:key>")
@blp.response(200, ProcessSchema)
def get_process(key):
    """The versions of one process, oldest first."""
    return engine().deployments.versions(current_actor(), key)


@blp.route("/<string:key>/versions/<int:version>/bpmn")
@blp.response(200, {"type": "string"}, content_type="application/xml")
def get_bpmn(key, version):
    """The BPMN XML of a version, exactly as deployed."""
    text = engine().deployments.bpmn(current_actor(), key, version)
    return Response(text, mimetype="application/xml")
