"""`/metrics` in Prometheus text format, and the request figures behind it."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.core import Engine
from engine.services.context import require_groups

from ..auth import current_actor
from . import engine

blp = Blueprint("metrics", __name__)
SCRAPERS = ("supervisors",)


@blp.route("/metrics")
def metrics():
    """Prometheus metrics (admins and supervisors)."""
    require_groups(current_actor(), *SCRAPERS)
    return Response(generate_latest(engine().metrics.registry), content_type=CONTENT_TYPE_LATEST)


def install(app: Flask, engine_: Engine) -> None:
    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _record(response):
        started = g.pop("started", None)
        if started is not None:
            endpoint = request.endpoint or "unknown"
            engine_.metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
            engine_.metrics.latency.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response
