"""Bearer-token authentication for every endpoint but health, the OpenAPI document and the docs."""

from __future__ import annotations

from flask import Flask, current_app, g, request

from engine.identity import Actor, Directory

from .errors import problem

PUBLIC_ENDPOINTS = {
    "health.health",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "static",
}


def current_actor() -> Actor:
    return g.actor


def install_auth(app: Flask, directory: Directory) -> None:
    app.extensions["complaints.directory"] = directory

    @app.before_request
    def authenticate():
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(401, "Unauthorized", "send Authorization: Bearer <token>")
        actor = current_app.extensions["complaints.directory"].authenticate(token.strip())
        if actor is None:
            return problem(401, "Unauthorized", "the token is not valid")
        g.actor = actor
        return None
