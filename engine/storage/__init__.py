"""Evidence files on disk, content-addressed (see `files.FileStore`)."""

from .files import FileStore, StoredFile, TooLarge

__all__ = ["FileStore", "StoredFile", "TooLarge"]
