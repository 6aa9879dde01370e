"""Where a case has been and where it waits, per BPMN process, for drawing it on its diagrams.

The workbench's case page shows the diagram of the case's own version with the path taken and
the current tasks marked, and the same for every process the case called (a round of handling, a
major-incident application). This module reads that from SpiffWorkflow's task tree:

- `completed`: elements whose task completed (user, script, service and call activities,
  gateways, events), in any round;
- `active`: user tasks ready for people, events waiting (timers, messages, boundary deadlines),
  and call activities or subprocesses still running.

The runtime forgets a called process's state once it has finished (see
`CaseRuntime._drop_finished_subprocesses`); just before, `record_trail` writes the elements it
completed onto the calling task (those no earlier call above it recorded), so the path of every
earlier round stays known.
Nothing here touches the database.
"""

from __future__ import annotations

from collections import defaultdict

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

# The calling task's internal data key holding {process id: [element ids]} of a finished call.
TRAIL = "diagram_trail"

Markers = dict[str, set[str]]


def owner_process(workflow) -> str:
    """The BPMN process whose diagram shows this workflow's elements.

    A called process has its own diagram; an embedded subprocess is drawn inside its parent's.
    """
    current = workflow
    while True:
        parent_task_id = getattr(current, "parent_task_id", None)
        if parent_task_id is None:
            return current.spec.name
        top = current.top_workflow
        parent_task = top.get_task_from_id(parent_task_id)
        if parent_task is None or isinstance(parent_task.task_spec, CallActivity):
            return current.spec.name
        current = parent_task.workflow


def _element_id(task: Task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _merge_trail(task: Task, into: Markers) -> None:
    trail = task._get_internal_data(TRAIL)
    if isinstance(trail, dict):
        for process, elements in trail.items():
            if isinstance(elements, list):
                into[str(process)].update(str(e) for e in elements)


def _within(workflow, ancestor) -> bool:
    current = workflow
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent_workflow
    return False


def _completed_in(workflows, into: Markers) -> None:
    for workflow in workflows:
        process = owner_process(workflow)
        for task in workflow.get_tasks(skip_subprocesses=True):
            _merge_trail(task, into)
            element = _element_id(task)
            if element is not None and task.state == TaskState.COMPLETED:
                into[process].add(element)


def _recorded_above(task: Task) -> Markers:
    """What the trails of the task's ancestors in its own workflow record.

    An ancestor stays in the task tree as long as the task does, so what it records need not be
    recorded again below it.
    """
    recorded: Markers = defaultdict(set)
    current = task.parent
    while current is not None:
        _merge_trail(current, recorded)
        current = current.parent
    return recorded


def record_trail(top: BpmnWorkflow, call_task: Task) -> None:
    """Before a finished call's state is dropped: keep what it completed on the calling task.

    Only the elements no earlier call above it recorded: a case that goes round the same called
    process again and again (a complaint reopened twenty times) would otherwise store the same
    path once per round. The case's markers are the union of the trails, so they are the same.
    """
    subprocess = top.subprocesses.get(call_task.id)
    if subprocess is None:
        return
    nested = [sp for sp in top.subprocesses.values() if _within(sp, subprocess)]
    completed: Markers = defaultdict(set)
    _completed_in(nested, completed)
    _merge_trail(call_task, completed)
    above = _recorded_above(call_task)
    new = {process: elements - above[process] for process, elements in completed.items()}
    trail = {process: sorted(elements) for process, elements in sorted(new.items()) if elements}
    if trail:
        call_task._set_internal_data(**{TRAIL: trail})
    else:
        call_task.internal_data.pop(TRAIL, None)


def _is_active(top: BpmnWorkflow, task: Task) -> bool:
    """A user task ready for people, an event waiting, or a call or subprocess still running."""
    if task.state == TaskState.READY:
        return bool(task.task_spec.manual)
    if task.state == TaskState.WAITING:
        return True
    return task.state == TaskState.STARTED and task.id in top.subprocesses


def case_markers(top: BpmnWorkflow) -> tuple[Markers, Markers]:
    """(completed, active): element ids by BPMN process id, over the whole case and every round."""
    completed: Markers = defaultdict(set)
    active: Markers = defaultdict(set)
    workflows = [top, *top.subprocesses.values()]
    _completed_in(workflows, completed)
    for workflow in workflows:
        process = owner_process(workflow)
        for task in workflow.get_tasks(skip_subprocesses=True):
            element = _element_id(task)
            if element is None:
                continue
            if _is_active(top, task):
                active[process].add(element)
    return completed, active
