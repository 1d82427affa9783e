"""Definition rows: the ``workflow_definitions`` table kept in step with the registry.

Code is the source of truth: a workflow class registered in a
:class:`~workflows_app.WorkflowRegistry` is a definition, and its row is created, or its
JSON updated, the first time an instance of it starts in a process (or by the engine's
``sync_definitions()``). A deactivated row (``is_active`` false) starts no new
instances; its running ones finish on it.
"""

from __future__ import annotations

from uuid import UUID

from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowStateError
from workflows_app.engine import statements
from workflows_app.models import WorkflowDefinitionModel

__all__ = ["startable_id", "sync"]

# Definition rows whose JSON this process has synced, by id() of the definition object: a
# start then only checks that the row exists and is active.
_SYNCED: dict[int, set[UUID]] = {}


def sync(using: str, definition: WorkflowDefinition) -> WorkflowDefinitionModel:
    """Create the definition's row, or update its JSON and description; return it."""
    document = definition.to_dict()
    row, created = WorkflowDefinitionModel.objects.using(using).get_or_create(
        name=definition.name,
        version=definition.version,
        defaults={"description": definition.description, "definition_json": document},
    )
    if not created and row.definition_json != document:
        row.definition_json = document
        row.description = definition.description
        row.save(using=using, update_fields=["definition_json", "description", "updated_at"])
    return row


def startable_id(using: str, definition: WorkflowDefinition) -> UUID:
    """Return the id of the definition's row (creating or syncing it), if it is active.

    Raise :class:`~workflows_app.WorkflowStateError` for a deactivated version.
    """
    found = statements.select_one(
        using,
        WorkflowDefinitionModel,
        ("id", "is_active"),
        {"name": definition.name, "version": definition.version},
    )
    if found is None or found[0] not in _SYNCED.get(id(definition), ()):
        row = sync(using, definition)
        found = (row.pk, row.is_active)
        _SYNCED.setdefault(id(definition), set()).add(row.pk)
    if not found[1]:
        raise WorkflowStateError(
            f"Workflow '{definition.name}' version '{definition.version}' is deactivated "
            "and starts no new instances"
        )
    return found[0]
