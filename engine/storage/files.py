"""Content-addressed file storage for evidence (photos, invoices, test reports).

Why on disk and by content: evidence is large and never changes, so the database keeps only a row
naming the file by its sha256, and the bytes live under `COMPLAINTS_FILES_DIR` at
`<root>/<aa>/<bb>/<sha256>`. The same bytes uploaded twice are stored once.

Durability order: a file is written to a temporary name in the same directory tree, flushed and
fsynced, renamed to its content address, and the directory fsynced, all *before* the caller
commits the database row that names it. A crash or a failed commit can leave a file no row
names (harmless: the next identical upload reuses it), never a row naming a missing file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(Exception):
    """The stream held more bytes than allowed; nothing was kept."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path
    # The first bytes of the content, for telling its type.
    head: bytes


class FileStore:
    """A directory of immutable files named by the sha256 of their content."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put(self, stream: BinaryIO, max_bytes: int, head_bytes: int = 8192) -> StoredFile:
        """Copy a stream into the store, durably; `TooLarge` past `max_bytes` (nothing kept).

        The stream is read in chunks, so a large upload never sits in memory whole.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = self.root / "incoming"
        incoming.mkdir(exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        handle, temp_name = tempfile.mkstemp(dir=incoming, prefix="upload-")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"more than {max_bytes} bytes")
                    if len(head) < head_bytes:
                        head += chunk[: head_bytes - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            target = self.path_of(sha256)
            if target.is_file() and target.stat().st_size == size:
                temp.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, target)
                _fsync_dir(target.parent)
            return StoredFile(sha256, size, target, head)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
