"""Acting on one workflow: start it, complete a user task, deliver a message, fire timers.

One function per act; each runs SpiffWorkflow's engine steps until only user tasks and waiting
events are left, and records what happened (tasks completed, timers fired, events thrown out of
the process, an error) for `projection` to write down. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import EscalationEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .case_paths import record_trail
from .definitions.repository import LoadedDefinition
from .sandbox import SandboxScriptEngine

# A process that keeps making engine tasks ready without ever waiting is broken; stop it.
MAX_ENGINE_ROUNDS = 200


@dataclass(frozen=True)
class FiredTimer:
    element_id: str
    name: str | None
    due: str | None


@dataclass
class ActLog:
    """What one act did to the workflow."""

    completed: list[Task] = field(default_factory=list)
    timers_fired: list[FiredTimer] = field(default_factory=list)
    thrown: list[BpmnEvent] = field(default_factory=list)
    error: dict[str, Any] | None = None


class NotWaiting(Exception):
    """The workflow is not waiting for the message or task the caller named."""


def is_timer_event(task: Task) -> bool:
    spec = task.task_spec
    return isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition)


def timer_definitions(task: Task) -> list[TimerEventDefinition]:
    """The timers a waiting task waits on: its own, or those of an event-based gateway.

    SpiffWorkflow folds the events after an event-based gateway into one waiting task with a
    MultipleEventDefinition; a timer's due time is then kept on that task.
    """
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return [definition]
    if isinstance(definition, MultipleEventDefinition):
        return [d for d in definition.event_definitions if isinstance(d, TimerEventDefinition)]
    return []


def _event_definitions(task: Task) -> list:
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def _fired_timers(task: Task) -> list[FiredTimer]:
    spec = task.task_spec
    due = task._get_internal_data("event_value")
    due = due if isinstance(due, str) else None
    if is_timer_event(task):
        return [FiredTimer(spec.bpmn_id, spec.bpmn_name, due)]
    if isinstance(getattr(spec, "event_definition", None), MultipleEventDefinition):
        fired = []
        for event in task._get_internal_data("seen_events") or []:
            if isinstance(event.event_definition, TimerEventDefinition):
                name = event.event_definition.name
                element = next(
                    (o.bpmn_id for o in spec.outputs if getattr(o, "bpmn_name", None) == name), spec.bpmn_id
                )
                fired.append(FiredTimer(element, name, due))
        return fired
    return []


class CaseRuntime:
    """A workflow of one deployed version, with the log of the current act."""

    def __init__(self, workflow: BpmnWorkflow, definition: LoadedDefinition):
        self.workflow = workflow
        self.definition = definition
        self.log = ActLog()

    @classmethod
    def start(
        cls, definition: LoadedDefinition, script_engine: SandboxScriptEngine, data: dict
    ) -> CaseRuntime:
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs, script_engine=script_engine)
        workflow.task_tree.data.update(data)
        runtime = cls(workflow, definition)
        runtime.run()
        return runtime

    @classmethod
    def load(
        cls, definition: LoadedDefinition, script_engine: SandboxScriptEngine, state: str
    ) -> CaseRuntime:
        workflow = definition.serializer.load_state(
            state, definition.spec, definition.subprocess_specs, script_engine
        )
        return cls(workflow, definition)

    def dump(self) -> str:
        return self.definition.serializer.dump_state(self.workflow)

    # ---- acts
    def run(self) -> None:
        """Run engine steps until the workflow waits for people, messages or time."""
        try:
            for _ in range(MAX_ENGINE_ROUNDS):
                waiting = list(self.workflow.event_manager.tasks.values())
                self.workflow.do_engine_steps(did_complete_task=self._completed)
                # do_engine_steps refreshes timers last; a timer already due is READY but not run.
                if not any(
                    task.state == TaskState.READY
                    for task in waiting + list(self.workflow.event_manager.tasks.values())
                ):
                    break
            else:
                raise WorkflowException("the process kept running without waiting; stopped")
        except SpiffWorkflowException as error:
            self._record_error(error)
        self.log.thrown.extend(self.workflow.get_events())
        self._drop_finished_subprocesses()

    def _drop_finished_subprocesses(self) -> None:
        """Forget the state of call activities and subprocesses that have finished.

        SpiffWorkflow keeps it, so a case that goes round a called process again and again (a
        complaint reopened twenty times) would carry every earlier round in its state, and every
        step would load and save them all. Their results were copied back to the caller when they
        finished, and nothing reads them afterwards (the service never rewinds a case).
        """
        for task_id in list(self.workflow.subprocesses):
            if task_id not in self.workflow.subprocesses:
                continue  # gone with the subprocess it was nested in
            task = self.workflow.get_task_from_id(task_id)
            if task is not None and task.has_state(TaskState.FINISHED_MASK):
                # The case page still draws the path this round took (engine/case_paths.py).
                record_trail(self.workflow, task)
                self.workflow.delete_subprocess(task)

    def complete_task(self, task_id: str, data: dict) -> Task:
        task = self.ready_user_task(task_id)
        if task is None:
            raise NotWaiting(f"task {task_id} is not open")
        # A form states each field's whole value: replace, never deep-merge (lists would grow).
        variable = getattr(task.task_spec, "variable", None)
        if variable:
            task.data[variable] = data
        else:
            task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as error:
            self._record_error(error)
            return task
        self._completed(task)
        self.run()
        return task

    def deliver_message(self, name: str, payload: dict) -> None:
        # Catching is by class and name: use the waiting event's own definition.
        definition = next(
            (
                candidate
                for task in self.workflow.event_manager.tasks.values()
                for candidate in _event_definitions(task)
                if isinstance(candidate, MessageEventDefinition) and candidate.name == name
            ),
            None,
        )
        if definition is None:
            raise NotWaiting(f"not waiting for the message {name}")
        try:
            self.workflow.send_event(BpmnEvent(definition, payload))
        except WorkflowException as error:
            raise NotWaiting(str(error)) from None
        self.run()

    def fire_timers(self) -> None:
        self.workflow.refresh_timers()
        self.run()

    def cancel(self) -> None:
        self.workflow.cancel()

    def retry(self) -> bool:
        """Put tasks that failed back to READY and run again; False when nothing had failed."""
        failed = self.workflow.get_tasks(state=TaskState.ERROR)
        for task in failed:
            task._set_state(TaskState.READY)
        if failed:
            self.run()
        return bool(failed)

    # ---- observations
    def ready_user_task(self, task_id: str) -> Task | None:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, TypeError):
            return None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            return None
        return task

    def ready_user_tasks(self) -> list[Task]:
        return self.workflow.get_tasks(state=TaskState.READY, manual=True)

    def pending_timers(self) -> list[dict[str, Any]]:
        """[{"name", "due_at" (aware UTC)}] for every timer the workflow waits on."""
        timers = []
        for task in self.workflow.event_manager.tasks.values():
            for definition in timer_definitions(task):
                value = definition.details(task).value
                if not isinstance(value, str):
                    continue
                try:
                    due = TimerEventDefinition.get_datetime(value)
                except ValueError:
                    continue
                name = definition.name or task.task_spec.bpmn_name or task.task_spec.bpmn_id
                timers.append({"name": name, "due_at": due.astimezone(UTC)})
        timers.sort(key=lambda t: t["due_at"])
        return timers

    def breached_clocks(self) -> list[str]:
        """The escalation codes this act threw out of the process (the SLA clocks that passed)."""
        return [
            event.event_definition.code or event.event_definition.name
            for event in self.log.thrown
            if isinstance(event.event_definition, EscalationEventDefinition)
        ]

    @property
    def completed(self) -> bool:
        return self.workflow.is_completed()

    def deadline_of(self, task: Task) -> datetime | None:
        """The earliest timer on a boundary of the task, or of the subprocesses around it."""
        deadlines = []
        current = task
        while current is not None:
            parent = current.parent
            if parent is not None and isinstance(parent.task_spec, BoundaryEventSplit):
                for sibling in parent.children:
                    value = sibling._get_internal_data("event_value")
                    if (
                        sibling is not current
                        and is_timer_event(sibling)
                        and sibling.state == TaskState.WAITING
                        and isinstance(value, str)
                    ):
                        deadlines.append(TimerEventDefinition.get_datetime(value))
            parent_task_id = current.workflow.parent_task_id
            current = self.workflow.get_task_from_id(parent_task_id) if parent_task_id is not None else None
        return min(deadlines).astimezone(UTC) if deadlines else None

    # ---- internals
    def _completed(self, task: Task) -> None:
        self.log.completed.append(task)
        self.log.timers_fired.extend(_fired_timers(task))

    def _record_error(self, error: SpiffWorkflowException) -> None:
        task = getattr(error, "task", None)
        spec = getattr(task, "task_spec", None)
        self.log.error = {
            "message": str(error),
            "notes": list(getattr(error, "__notes__", []) or []),
            "element_id": getattr(spec, "bpmn_id", None),
            "element_name": getattr(spec, "bpmn_name", None),
        }
