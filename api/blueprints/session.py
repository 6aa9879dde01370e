"""`GET /api/v1/me`: who the caller is, and the CSRF token the workbench sends with its changes."""

from __future__ import annotations

from marshmallow import fields

from ..auth import current_actor, current_session
from ..dumping import Schema
from . import Blueprint

blp = Blueprint("session", __name__, url_prefix="/api/v1", description="Signed-in person")


class MeSchema(Schema):
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    groups = fields.List(fields.String(), required=True)
    csrf_token = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "Send as X-CSRF-Token with every change made with the session cookie; "
            "null when the call was made with a bearer token (which needs none)."
        },
    )


@blp.route("/me")
@blp.response(200, MeSchema)
def me():
    """The signed-in person (by bearer token or session cookie), their groups and CSRF token."""
    actor = current_actor()
    active = current_session()
    return {
        "username": actor.username,
        "display_name": actor.display_name or actor.username,
        "groups": sorted(actor.groups),
        "csrf_token": active.csrf_token if active is not None else None,
    }
