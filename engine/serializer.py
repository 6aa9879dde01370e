"""Workflow state as SpiffWorkflow serializes it, without the spec.

A case row keeps only the instance (tasks, data, subprocesses); the process spec and the specs
of the processes it calls are stored once per deployed version (`ProcessDefinition.spec`) and
restored from the in-memory cache, never re-read per request.
"""

from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

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
        self._registry._encoder_mode = True
        try:
            dct = self._registry.convert(workflow)
        finally:
            self._registry._encoder_mode = False
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
