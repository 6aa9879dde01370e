"""`Engine`: the one object the HTTP edge, the CLI, the timer worker and the tests talk to."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .calendar import WorkingCalendar
from .config import EngineConfig
from .definitions.bundle import read_folder
from .definitions.repository import DefinitionRepository
from .identity import SYSTEM, Actor, Directory
from .metrics import Metrics
from .sandbox import SandboxScriptEngine
from .services.approvals import ApprovalService
from .services.attachments import AttachmentService
from .services.case_diagrams import CaseDiagramService
from .services.cases import CaseService
from .services.context import EngineContext
from .services.deployments import DeploymentService
from .services.ownership import OwnershipService
from .services.tasks import TaskService
from .services.timers import TimerService, WorkerThread
from .storage import FileStore
from .store.db import Database

log = logging.getLogger(__name__)


class Engine:
    """Builds the engine's parts from a config and exposes its services."""

    def __init__(self, config: EngineConfig, directory: Directory | None = None):
        self.config = config
        self.db = Database(config.database_url, pool_size=config.db_pool_size)
        self.calendar = WorkingCalendar(config.timezone, config.holidays_file)
        self.ctx = EngineContext(
            db=self.db,
            definitions=DefinitionRepository(),
            calendar=self.calendar,
            script_engine=SandboxScriptEngine(self.calendar),
            directory=directory,
        )
        self.cases = CaseService(self.ctx)
        self.case_diagrams = CaseDiagramService(self.ctx, self.cases)
        self.tasks = TaskService(self.ctx)
        self.approvals = ApprovalService(self.ctx, self.tasks)
        self.deployments = DeploymentService(self.ctx)
        self.metrics = Metrics(self.db)
        self.timers = TimerService(self.ctx, self.metrics)
        self.files = FileStore(config.resolved_files_dir())
        self.attachments = AttachmentService(self.ctx, self.files)
        self.ownership = OwnershipService(self.ctx)

    def migrate(self) -> None:
        self.db.migrate()

    def deploy_folders(self, *folders: str | Path, actor: Actor = SYSTEM) -> dict:
        """Deploy every BPMN/DMN/form file in the folders (new versions only where content changed).

        Deployed by the service itself (`SYSTEM`, what `serve` does at start-up), these are the
        shipped files: a process whose newest version an owner deployed keeps it (listed under
        "kept"). Deployed by a person (the `deploy` command), they are that owner's deployment.
        """
        files: dict[str, str] = {}
        for folder in folders:
            for name, text in read_folder(folder).items():
                if name in files:
                    raise ValueError(f"{name} is in more than one of the folders")
                files[name] = text
        return self.deployments.deploy(actor, files, shipped=actor is SYSTEM)

    def start_worker_thread(self) -> WorkerThread:
        """Fire timers in a background thread of this process (what `serve` does by default)."""
        return WorkerThread(self.timers)

    def run_worker(self, stop: threading.Event) -> None:
        """Fire timers in this thread until `stop` is set (what `python -m api worker` does)."""
        self.timers.run(stop)

    def check_database(self) -> None:
        self.db.ping()

    def close(self) -> None:
        self.db.dispose()
