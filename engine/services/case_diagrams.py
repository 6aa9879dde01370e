"""A case drawn on its diagrams: each BPMN process it ran or runs, with the path and current tasks.

`GET /api/v1/cases/{id}/diagram` calls `CaseDiagramService.diagram`. The XML is the one the case
runs (its own deployed version's files, called processes included), so a later deployment never
changes how an older case is drawn. Read-only: the workflow is loaded, never saved.
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..case_paths import case_markers
from ..definitions.repository import LoadedDefinition
from ..errors import NotFound
from ..identity import Actor
from ..store.models import Case, ProcessDefinition
from .cases import CaseService
from .context import EngineContext

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _processes_in(files: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """{process id: file name} and {process id: [called process ids, in document order]}."""
    where: dict[str, str] = {}
    calls: dict[str, list[str]] = {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    for name, text in sorted(files.items()):
        if not name.lower().endswith(".bpmn"):
            continue
        try:
            root = etree.fromstring(text.encode("utf-8"), parser)
        except etree.XMLSyntaxError:
            continue
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            process_id = process.get("id")
            if not process_id:
                continue
            where.setdefault(process_id, name)
            called = [c.get("calledElement") for c in process.iter(f"{{{BPMN_NS}}}callActivity")]
            calls[process_id] = [c for c in called if c]
    return where, calls


class CaseDiagramService:
    """Builds the diagram view of a case (see the module's docstring)."""

    def __init__(self, ctx: EngineContext, cases: CaseService):
        self.ctx = ctx
        self.cases = cases
        # Deployed versions never change: what is read from one is kept (by definition id).
        self._layout: dict[int, tuple[dict[str, str], dict[str, list[str]]]] = {}
        self._versions: dict[tuple[int, str], int] = {}

    def diagram(self, actor: Actor, case_id: str) -> dict:
        # Whoever may read the case may see its diagram: the same check as reading it.
        self.cases.get(actor, case_id)
        with self.ctx.db.unit_of_work(write=False) as uow:
            case = uow.session.get(Case, case_id)
            if case is None:
                raise NotFound(f"no case {case_id}")
            definition = self.ctx.definition_of(uow.session, case)
            runtime = self.ctx.runtime_of(uow.session, case)
            completed, active = case_markers(runtime.workflow)
            layout = self._layout.get(definition.id)
            if layout is None:
                layout = self._layout[definition.id] = _processes_in(definition.files)
            where, calls = layout
            top = definition.spec.name
            order = [top]
            for process in order:  # breadth first over the call hierarchy, each process once
                for called in calls.get(process, []):
                    if called not in order and called in where:
                        order.append(called)
            diagrams = []
            for process in order:
                if process != top and not completed.get(process) and not active.get(process):
                    continue  # a process this case never entered
                diagrams.append(
                    {
                        "process": process,
                        "version": self._version(uow.session, definition, process, where),
                        "bpmn": definition.files[where[process]] if process in where else None,
                        "completed": sorted(completed.get(process, ())),
                        "active": sorted(active.get(process, ())),
                    }
                )
            return {"case_id": case.id, "diagrams": diagrams}

    def _version(
        self, session: Session, definition: LoadedDefinition, process: str, where: dict[str, str]
    ) -> int | None:
        """The deployed version of `process` whose file is the one this case runs."""
        if process == definition.key:
            return definition.version
        known = self._versions.get((definition.id, process))
        if known is not None:
            return known
        filename = where.get(process)
        if filename is None:
            return None
        text = definition.files[filename]
        rows = session.execute(
            select(ProcessDefinition.version, ProcessDefinition.files)
            .where(ProcessDefinition.process_key == process)
            .order_by(ProcessDefinition.version.desc())
        ).all()
        for version, files in rows:
            if (files or {}).get(filename) == text:
                self._versions[(definition.id, process)] = version
                return version
        return None
