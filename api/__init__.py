"""The HTTP edge of the complaint service: a Flask app factory, blueprints per resource.

Every route is one call into `engine.core.Engine`; this package only parses, authenticates,
and renders (marshmallow schemas, problem+json errors, OpenAPI at /openapi.json, docs at /docs).
It also serves the workbench: the sign-in page, sessions, and the built web application.
"""

from __future__ import annotations

import http

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from engine.core import Engine
from engine.identity import Directory
from engine.sessions import SessionStore

from .auth import install_auth
from .blueprints import (
    approvals,
    case_diagram,
    cases,
    deployments,
    health,
    metrics,
    processes,
    session,
    tasks,
    web,
)
from .errors import register_error_handlers
from .schemas import ProblemSchema

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ServiceApi(Api):
    """flask-smorest's Api, documenting every error response as application/problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def create_app(engine: Engine, directory: Directory, config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        API_TITLE="Complaint handling service",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Swagger UI's files come from a pinned package, served by api/blueprints/web.py: no CDN.
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "info": {"description": "Complaints from intake to follow-up visit, run as BPMN and DMN."},
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "session": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": "complaints_session",
                        "description": "The workbench's sign-in session (POST /login); changes "
                        "made with it also need the X-CSRF-Token header from GET /api/v1/me.",
                    },
                },
            },
            # Either one: a bearer token, or the workbench's session cookie (+ X-CSRF-Token on changes).
            "security": [{"bearer": []}, {"session": []}],
        },
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
    )
    app.config.update(config or {})
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["complaints.engine"] = engine

    api = ServiceApi(app)
    for module in (health, processes, deployments, cases, tasks, approvals):
        api.register_blueprint(module.blp)
    api.register_blueprint(session.blp)
    api.register_blueprint(case_diagram.blp)
    app.register_blueprint(metrics.blp)
    metrics.install(app, engine)
    install_auth(app, directory, SessionStore(engine.db))
    web.install_web(app)
    register_error_handlers(app)
    return app
