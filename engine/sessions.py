"""Workbench sign-in sessions, kept in the database so every node sees a sign-out at once.

A session id is 256 random bits, handed to the browser once (in an HttpOnly cookie); the table
keeps only its sha256, so reading the table lets nobody sign in. A session ends when its person
signs out or after `IDLE_TIMEOUT` without a request. The CSRF token of a session is derived from
its id (a keyed hash), so it needs no storage and cannot be guessed without the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from .store.db import Database
from .store.models import WebSession

IDLE_TIMEOUT = timedelta(hours=12)
# Last-seen moments are written at most this often per session (not on every request).
TOUCH_INTERVAL = timedelta(seconds=60)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def csrf_token_of(session_id: str) -> str:
    """The CSRF token that goes with a session id (sent back in `X-CSRF-Token`)."""
    return hmac.new(session_id.encode("utf-8"), b"complaints-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ActiveSession:
    """A valid session: whose it is, and its CSRF token."""

    username: str
    csrf_token: str


class SessionStore:
    """Creates, checks and ends sessions in the `web_sessions` table."""

    def __init__(self, db: Database, idle_timeout: timedelta = IDLE_TIMEOUT):
        self.db = db
        self.idle_timeout = idle_timeout

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def create(self, username: str) -> str:
        """Open a session for a user who just signed in; returns the session id (for the cookie).

        Sessions idle for longer than the timeout are deleted on the way.
        """
        session_id = secrets.token_urlsafe(32)
        now = self._now()
        with self.db.unit_of_work(write=True) as uow:
            uow.session.execute(delete(WebSession).where(WebSession.last_seen_at < now - self.idle_timeout))
            uow.session.add(
                WebSession(id_sha256=_sha256(session_id), username=username, created_at=now, last_seen_at=now)
            )
        return session_id

    def check(self, session_id: str | None) -> ActiveSession | None:
        """The session for a cookie's id when it exists and has not been idle too long.

        A valid session's last-seen moment moves to now (written at most once a minute).
        """
        if not session_id or len(session_id) > 200:
            return None
        digest = _sha256(session_id)
        now = self._now()
        with self.db.unit_of_work(write=False) as uow:
            row = uow.session.get(WebSession, digest)
            if row is None:
                return None
            username, last_seen = row.username, row.last_seen_at
        if now - last_seen >= self.idle_timeout:
            self.end(session_id)
            return None
        if now - last_seen >= TOUCH_INTERVAL:
            with self.db.unit_of_work(write=True) as uow:
                row = uow.session.get(WebSession, digest)
                if row is None:
                    return None
                row.last_seen_at = now
        return ActiveSession(username, csrf_token_of(session_id))

    def end(self, session_id: str | None) -> None:
        """End a session (sign-out): it is gone for every node at once."""
        if not session_id or len(session_id) > 200:
            return
        with self.db.unit_of_work(write=True) as uow:
            uow.session.execute(delete(WebSession).where(WebSession.id_sha256 == _sha256(session_id)))

    def count(self, username: str | None = None) -> int:
        """How many sessions are stored (for one user, or all); for tests and operations."""
        query = select(WebSession.id_sha256)
        if username is not None:
            query = query.where(WebSession.username == username)
        with self.db.unit_of_work(write=False) as uow:
            return len(uow.session.execute(query).all())
