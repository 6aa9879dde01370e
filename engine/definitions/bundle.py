"""A set of definition files, and the problem report a refused deployment returns."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = {".bpmn": "bpmn", ".dmn": "dmn", ".json": "form"}
MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class Problem:
    """One reason a deployment was refused, located as precisely as the source allows."""

    file: str | None
    message: str
    element_id: str | None = None
    line: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def kind_of(filename: str) -> str | None:
    return KINDS.get(Path(filename).suffix.lower())


def read_folder(folder: str | Path) -> dict[str, str]:
    """Every BPMN, DMN and JSON file directly inside `folder`, by file name.

    A symbolic link is followed only to a file inside the same folder: one pointing anywhere else
    (`/etc/passwd` named `x.json`) is refused with a ValueError, so deploying a folder never
    reads, stores or echoes a file from outside it.
    """
    root = Path(folder).resolve(strict=True)
    if not root.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    files = {}
    for path in sorted(Path(folder).iterdir()):
        if not kind_of(path.name):
            continue
        target = path.resolve()
        if target.parent != root and root not in target.parents:
            raise ValueError(f"{path} is a link to {target}, outside the folder being deployed")
        if target.is_file():
            files[path.name] = target.read_text(encoding="utf-8")
    return files


def decode_upload(filename: str, content: bytes) -> tuple[str | None, Problem | None]:
    """The text of an uploaded file, or the problem that stops it being read."""
    if kind_of(filename) is None:
        return None, Problem(filename, "only .bpmn, .dmn and .json (form) files can be deployed")
    if len(content) > MAX_FILE_BYTES:
        return None, Problem(filename, f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        return content.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        return None, Problem(filename, f"file is not UTF-8 text ({error.reason})")


def fingerprint(files: dict[str, str]) -> str:
    """The sha256 identifying a version: over the names and contents of its files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(files[name].encode()).digest())
    return digest.hexdigest()
