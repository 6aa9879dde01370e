"""Engine configuration, read from the environment by the composition root (`api.cli`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///complaints.db"


@dataclass(frozen=True)
class EngineConfig:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Shanghai"
    holidays_file: str | None = None
    db_pool_size: int = 10
    # Evidence files (`COMPLAINTS_FILES_DIR`); None: beside the SQLite file, else ./files.
    files_dir: str | None = None

    def resolved_files_dir(self) -> Path:
        """Where evidence files live: the configured folder, else `files/` beside the SQLite
        database file, else `./files` in the working directory."""
        if self.files_dir:
            return Path(self.files_dir).resolve()
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///") :]).resolve().parent / "files"
        return Path("files").resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineConfig:
        env = os.environ if env is None else env
        url = env.get("COMPLAINTS_DATABASE_URL") or DEFAULT_DATABASE_URL
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            # A relative SQLite path is relative to the working directory; make that explicit.
            url = "sqlite:///" + str(Path(url[len("sqlite:///") :]).resolve())
        return cls(
            database_url=url,
            timezone=env.get("COMPLAINTS_TIMEZONE") or "Asia/Shanghai",
            holidays_file=env.get("COMPLAINTS_HOLIDAYS_FILE") or None,
            db_pool_size=int(env.get("COMPLAINTS_DB_POOL_SIZE") or 10),
            files_dir=env.get("COMPLAINTS_FILES_DIR") or None,
        )
