"""Deployed versions in the database, and the in-memory cache of their parsed specs.

A version is stored once with its files and SpiffWorkflow's serialization of its specs; any
node rebuilds its cache entry from that row, so nothing in memory is authoritative.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from jsonschema.protocols import Validator
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy import Select, event, func, select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..forms import apply_defaults, compile_validator, field_errors
from ..serializer import StateSerializer
from ..store.models import ProcessDefinition
from ..store.prepared import Prepared
from .metadata import TaskMeta, properties_of, task_meta
from .parsing import ParsedProcess
from .shared_specs import make_shareable


@dataclass
class LoadedDefinition:
    """A deployed version ready to run: specs, forms, and per-task metadata."""

    id: int
    key: str
    version: int
    dialect: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    files: dict[str, str]
    serializer: StateSerializer
    _meta: dict[tuple[str, str], TaskMeta] = field(default_factory=dict)
    _forms: dict[str, dict] = field(default_factory=dict)
    _validators: dict[str, Validator] = field(default_factory=dict)

    def meta(self, task_spec) -> TaskMeta:
        key = (task_spec._wf_spec.name, task_spec.name)
        found = self._meta.get(key)
        if found is None:
            found = self._meta[key] = task_meta(task_spec)
        return found

    def form(self, filename: str | None) -> dict | None:
        """A form file's JSON (parsed once), or None when the task names none."""
        if not filename or filename not in self.files:
            return None
        found = self._forms.get(filename)
        if found is None:
            found = self._forms[filename] = json.loads(self.files[filename])
        return found

    def form_data(self, filename: str | None, data: Any, problem: str) -> Any:
        """`data` as the form `filename` takes it: a copy with the form's defaults filled in, checked
        against its schema; ValidationFailed(`problem`, {field: messages}) when it does not match.

        The one check of submitted data, for start forms and task forms alike. Without a form the
        data is returned as given; without a schema it is not checked.
        """
        form = self.form(filename)
        if form is not None:
            data = apply_defaults(form, json.loads(json.dumps(data)))
        validator = self.validator(filename)
        if validator is not None:
            errors = field_errors(validator, data)
            if errors:
                raise ValidationFailed(problem, errors)
        return data

    def validator(self, filename: str | None) -> Validator | None:
        """The compiled JSON Schema validator of a form file (built once per version)."""
        schema = self.form(filename)
        if schema is None or filename is None:  # form() is None for a missing name already
            return None
        found = self._validators.get(filename)
        if found is None:
            forms = {name: self.form(name) for name in self.files if name.lower().endswith(".json")}
            found = self._validators[filename] = compile_validator(schema, forms)
        return found

    @cached_property
    def start_form_file(self) -> str | None:
        for task_spec in self.spec.task_specs.values():
            if isinstance(task_spec, StartEvent):
                properties = properties_of(task_spec)
                name = properties.get("formJsonSchemaFilename") or properties.get("formKey")
                if name:
                    return name
        return None


# The newest version id of all: a new deployment always raises it (ids only grow), so what is
# derived from the newest versions is cached under it and rebuilt only when it moves.
_NEWEST_ID = Prepared(select(func.max(ProcessDefinition.id).label("newest")))
_GENERATION = "definitions_generation"
# The newest version id of every process key.
_LATEST_IDS = select(ProcessDefinition.process_key, func.max(ProcessDefinition.id)).group_by(
    ProcessDefinition.process_key
)


@event.listens_for(Session, "after_flush")
def _forget_generation(session: Session, _context: Any) -> None:
    """A flush may have written a new version: the next question reads the newest id again."""
    session.info.pop(_GENERATION, None)


@dataclass(frozen=True)
class _Newest:
    """What the newest versions say, as of the deployment `generation` (the newest id)."""

    generation: int
    ids: dict[str, int]
    callers: dict[str, list[str]]


class DefinitionRepository:
    """Reads and writes process versions; caches their parsed specs by version id."""

    def __init__(self):
        self._serializers = {d: StateSerializer(d) for d in ("spiff", "camunda")}
        self._cache: dict[int, LoadedDefinition] = {}
        self._versions: dict[int, int] = {}
        self._lock = threading.Lock()
        self._newest = _Newest(generation=-1, ids={}, callers={})

    def serializer(self, dialect: str) -> StateSerializer:
        return self._serializers[dialect]

    def load(self, row: ProcessDefinition) -> LoadedDefinition:
        loaded = self._cache.get(row.id)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._cache.get(row.id)
            if loaded is None:
                dialect = json.loads(row.spec).get("dialect", "spiff")
                serializer = self._serializers[dialect]
                spec, subprocess_specs = serializer.load_specs(row.spec)
                for process_spec in (spec, *subprocess_specs.values()):
                    make_shareable(process_spec)
                loaded = LoadedDefinition(
                    id=row.id,
                    key=row.process_key,
                    version=row.version,
                    dialect=dialect,
                    spec=spec,
                    subprocess_specs=subprocess_specs,
                    files=dict(row.files),
                    serializer=serializer,
                )
                self._cache[row.id] = loaded
        return loaded

    def load_id(self, session: Session, definition_id: int) -> LoadedDefinition:
        cached = self._cache.get(definition_id)
        if cached is not None:
            return cached
        return self.load(session.get_one(ProcessDefinition, definition_id))

    def version_of(self, session: Session, definition_id: int) -> int:
        """The version number of a deployed definition, without loading its spec."""
        version = self._versions.get(definition_id)
        if version is None:
            version = session.execute(
                select(ProcessDefinition.version).where(ProcessDefinition.id == definition_id)
            ).scalar_one()
            self._versions[definition_id] = version
        return version

    @staticmethod
    def latest(session: Session, key: str) -> ProcessDefinition | None:
        return session.execute(
            select(ProcessDefinition)
            .where(ProcessDefinition.process_key == key)
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ).scalar_one_or_none()

    def latest_loaded(self, session: Session, key: str) -> LoadedDefinition | None:
        """The newest version of a process, parsed: one small query for the newest id of all,
        the rest cached until a deployment raises it."""
        definition_id = self._newest_of(session).ids.get(key)
        return self.load_id(session, definition_id) if definition_id is not None else None

    def _newest_of(self, session: Session) -> _Newest:
        """The newest version of each key and who calls whom, rebuilt when a version was deployed."""
        # Asked once per transaction (a start asks for the version and for its callers).
        generation = session.info.get(_GENERATION)
        if generation is None:
            newest_id = _NEWEST_ID.rows(session.connection(), {})[0]["newest"]
            generation = session.info[_GENERATION] = newest_id or 0
        newest = self._newest
        if newest.generation == generation:
            return newest
        # Versions of one key are numbered in deployment order, so its newest id is its newest version.
        ids = {key: definition_id for key, definition_id in session.execute(_LATEST_IDS).all()}
        callers: dict[str, list[str]] = {}
        for key, definition_id in sorted(ids.items(), key=lambda item: item[1]):
            for called in self.load_id(session, definition_id).subprocess_specs:
                if called != key:
                    callers.setdefault(called, []).append(key)
        newest = _Newest(generation=generation, ids=ids, callers=callers)
        self._newest = newest
        return newest

    @staticmethod
    def latest_query() -> Select:
        """A select of the newest version of every process key."""
        newest = (
            select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("v"))
            .group_by(ProcessDefinition.process_key)
            .subquery()
        )
        return select(ProcessDefinition).join(
            newest,
            (ProcessDefinition.process_key == newest.c.process_key)
            & (ProcessDefinition.version == newest.c.v),
        )

    def latest_of_each(self, session: Session) -> list[ProcessDefinition]:
        return list(session.execute(self.latest_query().order_by(ProcessDefinition.id)).scalars())

    def callers(self, session: Session) -> dict[str, list[str]]:
        """Process key → the other processes whose newest version calls it (a call activity).

        Such a process is only ever called: a case cannot be started on it directly.
        """
        return self._newest_of(session).callers

    def workspace(self, session: Session) -> dict[str, str]:
        """The files of the newest version of every process (newer deployments win)."""
        files: dict[str, str] = {}
        for row in self.latest_of_each(session):
            files.update(row.files)
        return files

    def owner_version_in_the_way(self, session: Session, process: ParsedProcess) -> dict | None:
        """Why the shipped files of a process must not be deployed at start-up, or None if they may.

        They may where the database has no version of the process, or where its newest version came
        from the shipped folder too. A newest version an owner deployed is never replaced by a
        restart: the answer then says which version it is and whether the shipped files changed
        since they were last deployed from the folder (the start log warns about that).
        """
        latest = self.latest(session, process.key)
        if latest is None or latest.sha256 == process.sha256 or latest.source == "shipped":
            return None
        last_shipped = session.execute(
            select(ProcessDefinition.sha256)
            .where(ProcessDefinition.process_key == process.key, ProcessDefinition.source == "shipped")
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ).scalar_one_or_none()
        return {
            "version": latest.version,
            "deployed_by": latest.deployed_by,
            "shipped_files_changed": last_shipped != process.sha256,
        }

    def store(
        self, session: Session, process: ParsedProcess, actor: str, now: datetime, source: str = "owner"
    ) -> tuple[ProcessDefinition, bool]:
        """The version for this content: the newest one if unchanged, else a new one."""
        latest = self.latest(session, process.key)
        if latest is not None and latest.sha256 == process.sha256:
            return latest, False
        serializer = self._serializers[process.dialect]
        spec_text = serializer.dump_specs(process.spec, process.subprocess_specs)
        spec_doc = json.loads(spec_text)
        spec_doc["dialect"] = process.dialect
        row = ProcessDefinition(
            process_key=process.key,
            version=(latest.version + 1) if latest else 1,
            sha256=process.sha256,
            name=process.name,
            bpmn_file=process.bpmn_file,
            deployed_at=now,
            deployed_by=actor,
            source=source,
            files=process.files,
            spec=json.dumps(spec_doc, ensure_ascii=False, separators=(",", ":")),
        )
        session.add(row)
        session.flush()
        return row, True
