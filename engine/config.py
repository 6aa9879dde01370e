"""Engine configuration, read from the environment by the composition root (`api.cli`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///complaints.db"


@dataclass(frozen=True)
class EngineConfig:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Shanghai"
    holidays_file: str | None = None
    db_pool_size: int = 10

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> EngineConfig:
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
        )
