"""Deployed process definitions and their versions (read side)."""

from __future__ import annotations

from flask import Response
from marshmallow import Schema, fields

from ..auth import current_actor
from ..schemas import PageArgs, ProcessPageSchema, ProcessSchema
from . import Blueprint, engine, page_of


class VersionFileSchema(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": ["bpmn", "dmn", "form"]})
    size = fields.Integer(required=True, metadata={"description": "bytes (UTF-8)"})
    sha256 = fields.String(required=True)


class VersionFilesSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    files = fields.List(fields.Nested(VersionFileSchema), required=True)


MIMETYPES = {"bpmn": "application/xml", "dmn": "application/xml", "form": "application/json"}

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


@blp.route("/<string:key>/versions/<int:version>/files")
@blp.response(200, VersionFilesSchema)
def list_files(key, version):
    """The files of a version: its BPMN, the BPMN it calls, its decision tables and forms."""
    return engine().deployments.files(current_actor(), key, version)


@blp.route("/<string:key>/versions/<int:version>/files/<string:name>")
@blp.response(200, {"type": "string"}, content_type="application/xml")
def get_file(key, version, name):
    """One file of a version, exactly as deployed (XML for BPMN and DMN, JSON for forms)."""
    text, kind = engine().deployments.file(current_actor(), key, version, name)
    return Response(text, mimetype=MIMETYPES[kind])
