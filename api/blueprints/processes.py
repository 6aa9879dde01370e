"""Deployed process definitions and their versions (read side)."""

from __future__ import annotations

from flask import Response
from marshmallow import fields

from ..dumping import Schema
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


class DiffElementSchema(Schema):
    id = fields.String(required=True, metadata={"description": "element id, or a form field's path"})
    type = fields.String(required=True, metadata={"description": "userTask, sequenceFlow, rule, field, ..."})
    name = fields.String(allow_none=True)


class DiffFileSchema(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["added", "removed", "changed"]})
    added = fields.List(fields.Nested(DiffElementSchema), required=True)
    removed = fields.List(fields.Nested(DiffElementSchema), required=True)
    changed = fields.List(fields.Nested(DiffElementSchema), required=True)


class VersionDiffSchema(Schema):
    key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    files = fields.List(fields.Nested(DiffFileSchema), required=True)


MIMETYPES = {"bpmn": "application/xml", "dmn": "application/xml", "form": "application/json"}

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes", description="Process definitions")


@blp.route("")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProcessPageSchema)
def list_processes(args):
    """Every deployed process key with its newest version."""
    return engine().deployments.processes(page_of(args))


@blp.route("/<string:key>")
@blp.response(200, ProcessSchema)
def get_process(key):
    """The versions of one process, oldest first."""
    return engine().deployments.versions(key)


@blp.route("/<string:key>/versions/<int:version>/bpmn")
@blp.response(200, {"type": "string"}, content_type="application/xml")
def get_bpmn(key, version):
    """The BPMN XML of a version, exactly as deployed."""
    text = engine().deployments.bpmn(key, version)
    return Response(text, mimetype="application/xml")


@blp.route("/<string:key>/versions/<int:version>/files")
@blp.response(200, VersionFilesSchema)
def list_files(key, version):
    """The files of a version: its BPMN, the BPMN it calls, its decision tables and forms."""
    return engine().deployments.files(key, version)


@blp.route("/<string:key>/versions/<int:version>/files/<string:name>")
@blp.response(200, {"type": "string"}, content_type="application/xml")
@blp.doc(
    responses={
        "200": {
            "description": "The file as deployed: XML for BPMN and DMN, JSON for forms",
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {}},
            },
        }
    }
)
def get_file(key, version, name):
    """One file of a version, exactly as deployed (XML for BPMN and DMN, JSON for forms)."""
    text, kind = engine().deployments.file(key, version, name)
    return Response(text, mimetype=MIMETYPES[kind])


@blp.route("/<string:key>/versions/<int:a>/diff/<int:b>")
@blp.response(200, VersionDiffSchema)
def diff(key, a, b):
    """What changed from version a to version b: per file, the elements added, removed, changed."""
    return engine().deployments.diff(key, a, b)
