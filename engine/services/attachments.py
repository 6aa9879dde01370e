"""Evidence as files: photos, invoices, repair records and test reports on a case or a task.

Why here and not in the case data: evidence is binary and large; the case keeps a row per file
(`attachments`) naming its bytes by sha256 in the content-addressed file store
(`engine.storage`), which writes and fsyncs them before the row is committed.

Rules:
- the type is read from the content (the `filetype` package), never from the name or the
  client's Content-Type: images, PDF and office documents only (415 otherwise);
- at most `MAX_BYTES` (20 MiB) per file (413), checked before the bytes are copied;
- who may add, list and download: those who see the case whole (DOMAIN.md §8), by the one rule
  of `engine.services.privacy.sees_case_whole`: supervisors and admins; the integration or person
  who started it; its owner; whoever holds or completed one of its tasks; members of a group one
  of its open, unclaimed tasks is offered to (the approvers of a pending sign-off among them);
- an attachment may name one of the case's tasks (`task_id`); every upload is an audit event,
  `attachment_added`.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..calendar import utc_now
from ..errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..identity import Actor
from ..projection import add_event
from ..storage import FileStore, TooLarge
from ..store.models import ACTIVE_STATUSES, Attachment, Case, HumanTask
from .context import EngineContext, PageRequest, acting, lock_case, paged
from .privacy import sees_case_whole

MAX_BYTES = 20 * 1024 * 1024
MAX_DESCRIPTION = 2000
HEAD_BYTES = 8192

# What evidence may be: images, PDF, office documents (by the type read from the content).
ACCEPTED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/heic",
        "image/avif",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
    }
)


@dataclass(frozen=True)
class Download:
    """What the HTTP edge needs to send an attachment's bytes."""

    path: Path
    filename: str
    content_type: str
    size: int


def content_type_of(head: bytes) -> str | None:
    """The MIME type the content's first bytes show, or None when unknown."""
    kind = filetype.guess(head)
    return kind.mime if kind is not None else None


def clean_filename(name: str | None, content_type: str) -> str:
    """The client's file name without folders or control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    name = re.sub(r"\s+", " ", name)[:255]
    if not name:
        kind = filetype.get_type(mime=content_type)
        name = f"attachment.{kind.extension}" if kind is not None else "attachment"
    return name


def attachment_view(ctx: EngineContext, row: Attachment) -> dict:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "task_id": row.task_id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "description": row.description,
        "uploaded_by": row.uploaded_by,
        "at": ctx.local(row.at),
    }


def attachments_of(ctx: EngineContext, session: Session, case_id: str) -> list[dict]:
    """Every attachment of a case, oldest first (for summaries such as an approval's application)."""
    rows = session.execute(
        select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.at, Attachment.id)
    ).scalars()
    return [attachment_view(ctx, row) for row in rows]


class AttachmentService:
    def __init__(self, ctx: EngineContext, files: FileStore):
        self.ctx = ctx
        self.files = files

    def _readable_case(self, session: Session, actor: Actor, case_id: str) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        if not sees_case_whole(session, actor, case):
            raise Forbidden("only those who work this case may see or add its evidence")
        return case

    def check_may_attach(self, actor: Actor, case_id: str) -> None:
        """Refuse early (before an upload is read) whoever may not add evidence to the case."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            case = self._readable_case(uow.session, actor, case_id)
            if case.status not in ACTIVE_STATUSES:
                raise Conflict(f"the case is {case.status}; it takes no more evidence")

    def add(
        self,
        actor: Actor,
        case_id: str,
        stream: BinaryIO,
        filename: str | None,
        task_id: str | None = None,
        description: str | None = None,
    ) -> dict:
        """Store an uploaded file (seekable stream) and record it on the case."""
        errors: dict[str, list[str]] = {}
        if description is not None and len(description) > MAX_DESCRIPTION:
            errors["description"] = [f"at most {MAX_DESCRIPTION} characters"]
        elif description is not None and any(
            unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in description
        ):
            errors["description"] = ["holds control characters"]
        if task_id is not None and not task_id.strip():
            task_id = None
        elif task_id is not None and (len(task_id) > 36 or "\x00" in task_id):
            errors["task_id"] = ["not a task of this case"]
        if errors:
            raise ValidationFailed("the upload does not match its form", errors)
        self.check_may_attach(actor, case_id)
        self._check_task(case_id, task_id)

        stream.seek(0, 2)
        size = stream.tell()
        if size > MAX_BYTES:
            raise PayloadTooLarge(f"a file may hold at most {MAX_BYTES} bytes (20 MiB); this one has {size}")
        if size == 0:
            raise ValidationFailed("the upload does not match its form", {"file": ["the file is empty"]})
        stream.seek(0)
        content_type = content_type_of(stream.read(HEAD_BYTES))
        if content_type not in ACCEPTED_TYPES:
            raise UnsupportedMediaType(
                "evidence must be an image, a PDF or an office document "
                f"(the content is {content_type or 'of an unknown type'})"
            )
        stream.seek(0)
        try:
            stored = self.files.put(stream, MAX_BYTES)
        except TooLarge:
            raise PayloadTooLarge(f"a file may hold at most {MAX_BYTES} bytes (20 MiB)") from None
        except OSError as error:
            raise Unavailable(f"the file store cannot take the file: {error.strerror or error}") from None

        # The bytes are on disk (fsynced): only now is the row that names them written.
        with acting(self.ctx) as uow:
            session = uow.session
            case = lock_case(uow, case_id)
            if case.status not in ACTIVE_STATUSES:
                raise Conflict(f"the case is {case.status}; it takes no more evidence")
            now = utc_now()
            row = Attachment(
                id=str(uuid.uuid4()),
                case_id=case.id,
                task_id=task_id,
                filename=clean_filename(filename, content_type),
                content_type=content_type,
                size=stored.size,
                sha256=stored.sha256,
                description=description or None,
                uploaded_by=actor.username,
                at=now,
            )
            session.add(row)
            add_event(
                session,
                case.id,
                now,
                actor,
                "attachment_added",
                task_id,
                {
                    "attachment_id": row.id,
                    "filename": row.filename,
                    "content_type": content_type,
                    "size": stored.size,
                    "sha256": stored.sha256,
                },
            )
            return attachment_view(self.ctx, row)

    def _check_task(self, case_id: str, task_id: str | None) -> None:
        if task_id is None:
            return
        with self.ctx.db.unit_of_work(write=False) as uow:
            task_case = uow.session.execute(select(HumanTask.case_id).where(HumanTask.id == task_id)).scalar()
        if task_case != case_id:
            raise ValidationFailed(
                "the upload does not match its form", {"task_id": ["not a task of this case"]}
            )

    def list(self, actor: Actor, case_id: str, page: PageRequest) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            self._readable_case(uow.session, actor, case_id)
            query = (
                select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.at, Attachment.id)
            )
            return paged(uow.session, query, page, lambda row: attachment_view(self.ctx, row))

    def download(self, actor: Actor, attachment_id: str) -> Download:
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = uow.session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound(f"no attachment {attachment_id}")
            self._readable_case(uow.session, actor, row.case_id)
            found = Download(self.files.path_of(row.sha256), row.filename, row.content_type, row.size)
        if not found.path.is_file():
            raise Unavailable("the file of this attachment is missing from the file store")
        return found
