"""Workflow state as SpiffWorkflow serializes it, without the spec.

A case row keeps only the instance (tasks, data, subprocesses); the process spec and the specs
of the processes it calls are stored once per deployed version (`ProcessDefinition.spec`) and
restored from the in-memory cache, never re-read per request.

The state leaves out the data of finished tasks nothing can read again (`spent_tasks`): each
task of a BPMN process carries its own copy of the case data, and a process that loops (a
complaint reopened twenty times) keeps its earlier rounds' tasks, so a record that grows every
round (`rounds`) would otherwise be stored once per round, and the state would grow with the
square of the rounds. The loop's earlier rounds also leave their tasks in the tree, one chain
through every round; the spent ones that repeat a step already on their path are left out of the
stored tree (`repeated_steps`), so a case reopened twenty times loads, saves and walks about as
many tasks as one reopened twice.
"""

from __future__ import annotations

import json
from collections import Counter
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .case_paths import TRAIL

STATE_VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the specs out of the instance; takes them as arguments when restoring."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None, script_engine=None):
        workflow = self.target_class(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _uuid(value: str) -> UUID:
    return UUID(value)


# A child in one of these states has taken its data from its parent for good.
_SETTLED = TaskState.COMPLETED | TaskState.CANCELLED


def spent_tasks(workflow: BpmnWorkflow) -> list[Task]:
    """The tasks of the top process whose data nothing in SpiffWorkflow or the service reads again.

    SpiffWorkflow reads a finished task's data in these places only (3.2):
    - a child inherits it (`TaskSpec._update_hook` → `Task._inherit_data`) whenever the child is
      updated while not finished: when it becomes ready, each time a waiting event is refreshed
      (timers, boundary events, event-based gateways), when a join waits;
    - a parallel or inclusive gateway, or the process's end (`UnstructuredJoin._run_hook`), merges
      the data of the parents of its other, finished instances when it fires;
    - the process's root gives its data to an event subprocess a message starts
      (`BpmnStartTask.trigger_wf`), and the service updates it first (`deliver_message`);
    - the task it was reset to, or a branch reset below it (`reset_from_task_id`): the service
      never rewinds a case;
    - a called process's last task (its result), and a finished process's last task: both are
      leaves, and called processes are not pruned here (their state is dropped once finished).
    So a task is spent when it has COMPLETED, is not the root, and has children, all of them
    COMPLETED or CANCELLED and none a gateway that merges its siblings' parents. A spent task
    stays spent: SpiffWorkflow adds children later only to tasks still waiting or running (cycle
    timers, multi-instance) and to the root. The service reads the data of ready tasks (forms,
    assignees, deadlines) and of the tasks the current act completed, never of older ones.
    """
    root = workflow.task_tree
    spent = []
    for task in workflow.tasks.values():
        if task is root or task.state != TaskState.COMPLETED or not task._children:
            continue
        children = task.children
        if all(
            child is not None
            and child.has_state(_SETTLED)
            and not isinstance(child.task_spec, UnstructuredJoin)
            for child in children
        ):
            spent.append(task)
    return spent


def repeated_steps(workflow: BpmnWorkflow, spent: list[Task]) -> list[Task]:
    """Spent tasks of the top process that repeat a step already on their own path, and that the
    stored state can leave out of the tree altogether (their parent then holds their child).

    A process that loops (a complaint reopened twenty times) keeps every round's tasks in one
    chain: root → … → reopen → … → reopen → … → the task waiting now. Every step reads them again
    on load, save and each walk of the tree. A task is left out when:
    - it is spent (`spent_tasks`: its data is not stored and nothing reads it), and so is its
      parent, and each of the two has exactly one child: a link in the middle of a finished chain;
    - a task of the same element is on its own path, nearer the root: every path through the tree
      still passes the same elements (what joins, gateways and the case's diagram read from the
      tree), and the element stays marked as done;
    - it is no join of branches, carries no trail of a finished call (`engine.case_paths`), and is
      not the workflow's last task.
    Its child's data was stored against the spent parent's (none) and is restored against the new
    parent's (none as well), so every task left in the tree loads exactly as it did.
    """
    # A step left out shares its element with a task nearer the root: with no element twice in
    # the tree (a process that has not looped), there is nothing to walk for.
    names = Counter(task.task_spec.name for task in workflow.tasks.values())
    if not any(names[task.task_spec.name] > 1 for task in spent):
        return []
    spent_ids = {task.id for task in spent}
    found: list[Task] = []
    on_path: Counter[str] = Counter()
    stack: list[tuple[Task, bool]] = [(workflow.task_tree, False)]
    while stack:
        task, leaving = stack.pop()
        name = task.task_spec.name
        if leaving:
            on_path[name] -= 1
            continue
        parent = task.parent
        if (
            on_path[name]
            and task.id in spent_ids
            and len(task._children) == 1
            and parent is not None
            and parent.id in spent_ids
            and len(parent._children) == 1
            and not isinstance(task.task_spec, Join)
            and not task.internal_data.get(TRAIL)
            and task is not workflow.last_task
        ):
            found.append(task)
        on_path[name] += 1
        stack.append((task, True))
        stack.extend((child, False) for child in task.children)
    return found


def _left_out(tasks: dict[str, dict], steps: list[Task]) -> None:
    """Take `steps` (single-child links of a chain) out of the stored tasks, joining the chain."""
    gone = {str(task.id) for task in steps}
    for key in gone:
        dct = tasks[key]
        parent = dct["parent"]
        while parent in gone:
            parent = tasks[parent]["parent"]
        [child] = dct["children"]
        while child in gone:
            [child] = tasks[child]["children"]
        tasks[parent]["children"] = [child]
        tasks[child]["parent"] = parent
    for key in gone:
        del tasks[key]


# One configuration per modeler dialect: the two define classes of the same names.
DIALECT_CONFIGS = {"spiff": SPIFF_CONFIG, "camunda": CAMUNDA_CONFIG}


class StateSerializer:
    """Turns workflows into JSON text and back, and process specs into JSON text and back."""

    def __init__(self, dialect: str = "spiff"):
        config = dict(DIALECT_CONFIGS[dialect])
        config[BpmnWorkflow] = SpeclessWorkflowConverter
        self._serializer = BpmnWorkflowSerializer(registry=BpmnWorkflowSerializer.configure(config))
        self._registry = self._serializer.registry
        self._encoder = create_encoder(self._registry, None)

    def dump_state(self, workflow: BpmnWorkflow) -> str:
        """The workflow as JSON text, without the spec and without the data of spent tasks.

        The spent tasks' data is left out of the text only: the workflow in memory keeps it, since
        the caller may still read the tasks this act completed (`projection.apply_act`).
        SpiffWorkflow stores each task's data as its difference from its parent's (`delta`), so
        the spent tasks' data is emptied while the whole workflow is converted (their children are
        stored against the empty data), then put back. A spent task itself is stored with an empty
        `data` and no `delta` (SpiffWorkflow then restores `data` as it is), rather than as the
        list of its parent's keys it lacks.
        """
        spent_now = spent_tasks(workflow)
        spent = [(task, task.data) for task in spent_now]
        self._registry._encoder_mode = True
        try:
            for task, _data in spent:
                task.data = {}
            dct = self._registry.convert(workflow)
        finally:
            self._registry._encoder_mode = False
            for task, data in spent:
                task.data = data
        tasks = dct["tasks"]
        for task, _data in spent:
            tasks[str(task.id)]["delta"] = {}
        _left_out(tasks, repeated_steps(workflow, spent_now))
        dct[STATE_VERSION_KEY] = self._serializer.VERSION
        return json.dumps(dct, cls=self._encoder, ensure_ascii=False, separators=(",", ":"))

    def load_state(
        self,
        text: str,
        spec: BpmnProcessSpec,
        subprocess_specs: dict[str, BpmnProcessSpec],
        script_engine: PythonScriptEngine,
    ) -> BpmnWorkflow:
        dct = json.loads(text)
        version = dct.pop(STATE_VERSION_KEY, None)
        if version in MIGRATIONS:
            MIGRATIONS[version](dct)
        return self._registry.restore(
            dct, spec=spec, subprocess_specs=subprocess_specs, script_engine=script_engine
        )

    def dump_specs(self, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
        dct = {
            "spec": self._registry.convert(spec),
            "subprocess_specs": {k: self._registry.convert(v) for k, v in subprocess_specs.items()},
        }
        return json.dumps(dct, ensure_ascii=False, separators=(",", ":"))

    def load_specs(self, text: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        dct = json.loads(text)
        spec = self._registry.restore(dct["spec"])
        subprocess_specs = {k: self._registry.restore(v) for k, v in dct["subprocess_specs"].items()}
        return spec, subprocess_specs
