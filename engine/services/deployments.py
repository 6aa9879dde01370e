"""Deploying BPMN/DMN/form files as process versions, reading versions, trying decisions.

A deployment is checked whole before anything is stored. The uploaded files are laid over the
files of the newest deployed versions, so a process owner can upload just the DMN table they
edited: every process whose files changed gets a new version; the others keep theirs. Running
cases stay on the version they started with.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from ..calendar import utc_now
from ..definitions.bundle import Problem, decode_upload, fingerprint, kind_of
from ..definitions.checks import check_bundle
from ..definitions.decisions import DecisionError, evaluate, load_decisions
from ..definitions.diff import diff_versions
from ..definitions.parsing import parse_bundle
from ..errors import BadRequest, DeploymentInvalid, NotFound, ValidationFailed
from ..identity import Actor
from ..store.models import ProcessDefinition
from .context import EngineContext, PageRequest, paged, require_groups

DEPLOYERS = ("process_owners",)
MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in the database
_DEPLOY_LOCK_KEY = 7_301_2027


class DeploymentService:
    def __init__(self, ctx: EngineContext):
        self.ctx = ctx
        self._decisions_lock = threading.Lock()
        self._decisions: tuple[str, dict] | None = None

    def deploy(self, actor: Actor, uploads: Mapping[str, bytes | str], shipped: bool = False) -> dict:
        """Validate and deploy files; {"deployed": [{"key", "version", "created"}], "created": bool,
        "kept": [...]}.

        The files are checked against a snapshot of the newest deployed files, outside any lock;
        then, holding the deployment lock, the newest files are read again: if another deployment
        changed them meanwhile, the bundle is built and checked again from what is now current, so
        the version written always contains every change committed before it.

        `shipped` marks the service's own folders deployed at start-up: those never replace a
        version an owner deployed (its process is listed under "kept" instead).
        """
        require_groups(actor, *DEPLOYERS)
        if not uploads:
            raise BadRequest("no files were uploaded")
        problems: list[Problem] = []
        uploaded: dict[str, str] = {}
        for name, content in uploads.items():
            if isinstance(content, str):
                content = content.encode("utf-8")
            text, problem = decode_upload(name, content)
            if problem:
                problems.append(problem)
            elif text is not None:  # decode_upload gives text or a problem, never neither
                uploaded[name] = text
        with self.ctx.db.unit_of_work(write=False) as uow:
            snapshot = self.ctx.definitions.workspace(uow.session)
        bundle = self._checked(snapshot, uploaded, problems)

        results: list[dict] = []
        kept: list[dict] = []
        with self.ctx.db.unit_of_work(write=True) as uow:
            # SQLite: the write transaction began with BEGIN IMMEDIATE (the database's write lock).
            if not self.ctx.db.is_sqlite:
                uow.session.execute(select(func.pg_advisory_xact_lock(_DEPLOY_LOCK_KEY)))
            current = self.ctx.definitions.workspace(uow.session)
            if current != snapshot:
                bundle = self._checked(current, uploaded, problems)
            now = utc_now()
            touched = [p for p in bundle.processes if set(p.files) & set(uploaded)]
            source = "shipped" if shipped else "owner"
            for process in sorted(touched, key=lambda p: p.key):
                if shipped:
                    reason = self.ctx.definitions.owner_version_in_the_way(uow.session, process)
                    if reason is not None:
                        kept.append({"key": process.key, **reason})
                        continue
                row, created = self.ctx.definitions.store(
                    uow.session, process, actor.username, now, source=source
                )
                results.append({"key": row.process_key, "version": row.version, "created": created})
        return {"deployed": results, "created": any(r["created"] for r in results), "kept": kept}

    @staticmethod
    def _checked(workspace: dict[str, str], uploaded: dict[str, str], problems: list[Problem]):
        """The uploaded files laid over `workspace`, parsed and checked; raises with every problem."""
        bundle = parse_bundle({**workspace, **uploaded})
        found = [*problems, *bundle.problems, *check_bundle(bundle)]
        if found:
            raise DeploymentInvalid([p.as_dict() for p in _ordered(found)])
        return bundle

    # ---- reading
    def processes(self, page: PageRequest) -> dict:
        """Every deployed process key with its newest version."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            newest = self.ctx.definitions.latest_query().order_by(ProcessDefinition.process_key)
            return paged(uow.session, newest, page, lambda row: _version_view(self.ctx, row, with_key=True))

    def versions(self, key: str) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = (
                uow.session.execute(
                    select(ProcessDefinition)
                    .where(ProcessDefinition.process_key == key)
                    .order_by(ProcessDefinition.version)
                )
                .scalars()
                .all()
            )
            if not rows:
                raise NotFound(f"no process '{key}' is deployed")
            return {
                "key": key,
                "name": rows[-1].name,
                "versions": [_version_view(self.ctx, row) for row in rows],
            }

    def _version_row(self, session, key: str, version: int) -> ProcessDefinition:
        if not 1 <= version <= MAX_VERSION:
            raise NotFound(f"process '{key}' has no version {version}")
        row = session.execute(
            select(ProcessDefinition).where(
                ProcessDefinition.process_key == key, ProcessDefinition.version == version
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"process '{key}' has no version {version}")
        return row

    def bpmn(self, key: str, version: int) -> str:
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = self._version_row(uow.session, key, version)
            return row.files[row.bpmn_file]

    def files(self, key: str, version: int) -> dict:
        """The files a version is made of (its BPMN, the BPMN it calls, its tables and forms)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = self._version_row(uow.session, key, version)
            return {
                "key": key,
                "version": version,
                "files": [
                    {
                        "name": name,
                        "kind": kind_of(name),
                        "size": len(text.encode("utf-8")),
                        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    }
                    for name, text in sorted(row.files.items())
                ],
            }

    def file(self, key: str, version: int, name: str) -> tuple[str, str]:
        """One file of a version exactly as deployed, and its kind (`bpmn`, `dmn` or `form`)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            row = self._version_row(uow.session, key, version)
            if name not in row.files:
                raise NotFound(f"version {version} of process '{key}' has no file '{name}'")
            return row.files[name], kind_of(name) or "form"

    def diff(self, key: str, old: int, new: int) -> dict:
        """What changed from version `old` to version `new`: per file, elements by id."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            before = dict(self._version_row(uow.session, key, old).files)
            after = dict(self._version_row(uow.session, key, new).files)
        return {"key": key, "from_version": old, "to_version": new, "files": diff_versions(before, after)}

    # ---- decisions
    def evaluate_decision(self, actor: Actor, decision_id: str, inputs: dict[str, Any]) -> dict:
        """Run one deployed decision table on `inputs`, without starting a case."""
        require_groups(actor, *DEPLOYERS)
        engine = self._decision_engines().get(decision_id)
        if engine is None:
            raise NotFound(f"no deployed decision '{decision_id}'")
        try:
            outcome = evaluate(engine, inputs, self.ctx.script_engine)
        except DecisionError as error:
            raise ValidationFailed(
                "the decision could not be evaluated with these inputs", {"inputs": error.messages}
            ) from None
        return {"decision_id": decision_id, **outcome}

    def _decision_engines(self) -> dict:
        """The decisions of the newest deployed files (rebuilt only when those files change)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            workspace = self.ctx.definitions.workspace(uow.session)
        dmn_files = {n: t for n, t in workspace.items() if kind_of(n) == "dmn"}
        key = fingerprint(dmn_files)
        with self._decisions_lock:
            if self._decisions is None or self._decisions[0] != key:
                self._decisions = (key, load_decisions(dmn_files))
            return self._decisions[1]


def _version_view(ctx: EngineContext, row: ProcessDefinition, with_key: bool = False) -> dict:
    view = {
        "version": row.version,
        "sha256": row.sha256,
        "deployed_at": ctx.local(row.deployed_at),
        "deployed_by": row.deployed_by,
    }
    if with_key:
        view = {"key": row.process_key, "name": row.name, **view}
    return view


def _ordered(problems: list[Problem]) -> list[Problem]:
    return sorted(set(problems), key=lambda p: (p.file or "", p.line or 0, p.element_id or "", p.message))
