"""What the service needs to know about a user task, whichever modeler drew it.

spiff-arena's modeler writes `spiffworkflow:properties` (`formJsonSchemaFilename`,
`formUiSchemaFilename`); Camunda Modeler writes `camunda:formKey` and `camunda:candidateGroups`
(collected into the task's extensions by `parsing`). Both end up as one `TaskMeta`.

Extension properties the service reads (either dialect):
- `approvalLevel`: marks a sign-off task (`manager`, `general_manager`, ...);
- `applicantField`: the data field naming the person whose application is decided
  (default `applicant`); that person may not decide it;
- `actorField`: a data field the service fills with the username of whoever completes the
  task (e.g. `applicant` on the application form);
- `assigneeField`: a data field naming the user the task goes to straight away (e.g.
  `first_contact_owner`: 首问负责, the person who took the complaint keeps it), when that user
  is in the task's candidate group; otherwise the task is open to the whole group;
- `dueField`: a data field holding the moment the task is due (e.g. `reply_due`), for tasks
  whose deadline is not a timer on their own boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask


@dataclass(frozen=True)
class TaskMeta:
    element_id: str
    name: str | None
    lane: str | None
    candidate_groups: tuple[str, ...]
    form_file: str | None
    ui_form_file: str | None
    approval_level: str | None
    applicant_field: str
    actor_field: str | None
    assignee_field: str | None
    due_field: str | None

    @property
    def candidate_group(self) -> str | None:
        return self.candidate_groups[0] if self.candidate_groups else None


def properties_of(task_spec) -> dict[str, str]:
    """A task's extension properties as one flat dict, for either dialect."""
    extensions = getattr(task_spec, "extensions", None) or {}
    properties = dict(extensions.get("properties") or {})
    for key, value in extensions.items():
        if isinstance(value, str) and key not in ("preScript", "postScript"):
            properties.setdefault(key, value)
    return properties


def task_meta(task_spec) -> TaskMeta:
    properties = properties_of(task_spec)
    groups_text = properties.get("candidateGroups") or ""
    groups = tuple(g.strip() for g in groups_text.split(",") if g.strip())
    if not groups and task_spec.lane:
        groups = (task_spec.lane,)
    return TaskMeta(
        element_id=task_spec.bpmn_id or task_spec.name,
        name=task_spec.bpmn_name,
        lane=task_spec.lane,
        candidate_groups=groups,
        form_file=properties.get("formJsonSchemaFilename") or properties.get("formKey"),
        ui_form_file=properties.get("formUiSchemaFilename"),
        approval_level=properties.get("approvalLevel"),
        applicant_field=properties.get("applicantField") or "applicant",
        actor_field=properties.get("actorField") or None,
        assignee_field=properties.get("assigneeField") or None,
        due_field=properties.get("dueField") or None,
    )


def is_user_task(task_spec) -> bool:
    return isinstance(task_spec, UserTask)
