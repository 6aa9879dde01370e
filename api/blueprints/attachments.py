"""Evidence files: upload to a case (or one of its tasks), list a case's files, download one.

An upload is refused before its body is read when the caller may not add evidence to the case
(403) or the request is larger than one file may be (413); the file part is spooled to disk by
the multipart parser, never held in memory whole, and handed to the engine, which reads its
type from the content and stores it content-addressed.
"""

from __future__ import annotations

from flask import request, send_file
from marshmallow import fields

from engine.errors import PayloadTooLarge, ValidationFailed
from engine.services.attachments import MAX_BYTES

from ..auth import current_actor
from ..dumping import Schema
from ..schemas import PageArgs, PageSchema
from . import Blueprint, engine, page_of

blp = Blueprint("attachments", __name__, url_prefix="/api/v1", description="Evidence files")

# Room for the multipart framing and the small form fields beside the file.
MULTIPART_ALLOWANCE = 64 * 1024


class AttachmentSchema(Schema):
    id = fields.String(required=True)
    case_id = fields.String(required=True)
    task_id = fields.String(allow_none=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    description = fields.String(allow_none=True)
    uploaded_by = fields.String(required=True)
    at = fields.DateTime(required=True)


class AttachmentPageSchema(PageSchema):
    items = fields.List(fields.Nested(AttachmentSchema), required=True)


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "task_id": {"type": "string", "description": "a task of this case"},
                    "description": {"type": "string", "maxLength": 2000},
                },
            }
        }
    },
}


@blp.route("/cases/<string:case_id>/attachments", methods=["POST"])
@blp.response(201, AttachmentSchema, description="The file was stored and recorded on the case")
@blp.doc(requestBody=UPLOAD_BODY)
def upload(case_id):
    """Attach a file of evidence (image, PDF or office document, at most 20 MiB) to the case."""
    actor = current_actor()
    service = engine().attachments
    service.check_may_attach(actor, case_id)
    limit = MAX_BYTES + MULTIPART_ALLOWANCE
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a file may hold at most {MAX_BYTES} bytes (20 MiB)")
    request.max_content_length = limit
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(
            "the upload does not match its form",
            {"file": ["send the file as multipart/form-data field `file`"]},
        )
    return service.add(
        actor,
        case_id,
        upload.stream,
        upload.filename,
        task_id=request.form.get("task_id"),
        description=request.form.get("description"),
    )


@blp.route("/cases/<string:case_id>/attachments")
@blp.arguments(PageArgs, location="query")
@blp.response(200, AttachmentPageSchema)
def list_attachments(args, case_id):
    """The case's evidence files, oldest first."""
    return engine().attachments.list(current_actor(), case_id, page_of(args))


@blp.route("/attachments/<string:attachment_id>")
@blp.response(200, description="The file's bytes", content_type="application/octet-stream")
def download(attachment_id):
    """The bytes of one attachment, as a download (`Content-Disposition: attachment`)."""
    found = engine().attachments.download(current_actor(), attachment_id)
    response = send_file(
        found.path,
        mimetype=found.content_type,
        as_attachment=True,
        download_name=found.filename,
        conditional=True,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
