"""Deploying BPMN/DMN/form files, and trying decision tables."""

from __future__ import annotations

from flask import request

from engine.errors import BadRequest

from ..auth import current_actor
from ..schemas import (
    DecisionInputSchema,
    DecisionResultSchema,
    DeploymentResultSchema,
    DeploymentUploadSchema,
)
from . import Blueprint, engine

blp = Blueprint("deployments", __name__, url_prefix="/api/v1", description="Deployments and decisions")


@blp.route("/deployments", methods=["POST"])
@blp.arguments(DeploymentUploadSchema, location="files")
@blp.response(201, DeploymentResultSchema, description="New versions were deployed")
@blp.alt_response(200, schema=DeploymentResultSchema, description="Nothing changed")
def deploy(_files):
    """Validate and deploy BPMN, DMN and form files (multipart; group process_owners)."""
    uploads: dict[str, bytes] = {}
    # Every file of every field: several files under one name (`-F file=@a -F file=@b`) included.
    for _field, storage in request.files.items(multi=True):
        name = (storage.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not name:
            raise BadRequest("every uploaded file needs a file name")
        if name in uploads:
            raise BadRequest(f"{name} was uploaded twice")
        uploads[name] = storage.read()
    result = engine().deployments.deploy(current_actor(), uploads)
    return {"deployed": result["deployed"]}, 201 if result["created"] else 200


@blp.route("/decisions/<string:decision_id>/evaluate", methods=["POST"])
@blp.arguments(DecisionInputSchema)
@blp.response(200, DecisionResultSchema)
def evaluate(body, decision_id):
    """Run a deployed decision table on inputs, without starting a case."""
    return engine().deployments.evaluate_decision(current_actor(), decision_id, body["inputs"])
