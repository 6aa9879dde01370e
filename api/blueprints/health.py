"""Liveness and database reachability, without authentication."""

from __future__ import annotations

from ..schemas import HealthSchema
from . import Blueprint, engine

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Operations")


@blp.route("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
@blp.doc(security=[])
def health():
    """Is the service up, and can it reach its database?"""
    try:
        engine().check_database()
    except Exception:
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
