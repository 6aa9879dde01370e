"""A deployed version's process specs, made safe to share between all its cases.

A node keeps one parsed spec per deployed version (`DefinitionRepository`), and every case of
that version runs on it. SpiffWorkflow treats a spec as read-only, except in one place: the first
time a message starts an event subprocess (a customer's call, an upgrade), `BpmnStartTask.trigger_wf`
links the process's start to the event subprocess, and the event subprocess to the end, on the
spec itself. From then on, every case started on that node began with the event subprocess
already waiting for its message, and a case's end waits for every unfinished task of the case:
no such case could ever complete. A node that had not yet seen such a message started cases
without it.

`make_shareable` changes that once, when the version is loaded. Each event subprocess a message
starts gets the links a triggered one needs: the start as its input (SpiffWorkflow refuses to run
a task without one) and the end as its output (where the triggered branch finishes); the start
does not get it as an output, so no case starts it unasked. And the start gets a `trigger_wf` that
adds the event subprocess to the one case the message is for, without touching the spec. Every
case of the version then starts the same way, on every node, whatever messages other cases
received.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState


class SharedStartTask(BpmnStartTask):
    """The start of a process spec shared by many cases: a message that starts an event
    subprocess adds it to its own case only."""

    def trigger_wf(self, my_task: Task, spec_name: str):
        spec = self._wf_spec.task_specs.get(spec_name)
        child = my_task._add_child(spec, TaskState.FUTURE)
        child.triggered = True
        child.task_spec._update(child)
        return child.id


def make_shareable(spec: BpmnProcessSpec) -> None:
    """Give the spec's message-started event subprocesses the start as input and the end as
    output, and give it a start that never changes the spec again (see the module's docstring)."""
    start = spec.start
    if not isinstance(start, BpmnStartTask):
        return
    for name in start.trigger_specs:
        task_spec = spec.task_specs.get(name)
        if task_spec is None:
            continue
        if start not in task_spec.inputs:
            task_spec._connect_notify(start)  # its input only: not one of the start's outputs
        if spec.end not in task_spec.outputs:
            task_spec.connect(spec.end)
    start.__class__ = SharedStartTask
