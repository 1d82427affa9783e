"""The workflow registry: definitions by name and semantic version."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from workflows_app.core import four_eyes, send_back
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowNotFoundError, WorkflowValidationError

__all__ = ["WorkflowRegistry", "default_registry", "version_key"]

_SEMVER = re.compile(
    r"^v?(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?$"
)


def version_key(version: str) -> tuple[Any, ...]:
    """Return a sort key that orders versions by semantic versioning.

    ``"10.0.0"`` sorts after ``"9.1.0"``, and a release after its
    pre-releases (``"2.0.0-rc.1"`` < ``"2.0.0"``). Strings that are not
    versions sort before every version, alphabetically.
    """
    match = _SEMVER.match(version.strip())
    if match is None:
        return (0, version)
    release = tuple(int(match.group(part) or 0) for part in ("major", "minor", "patch"))
    pre = match.group("pre")
    if pre is None:
        return (1, release, (1,))
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
    )
    return (1, release, (0, identifiers))


class WorkflowRegistry:
    """Holds workflow definitions (every version) and workflow classes by name."""

    def __init__(self) -> None:
        self._definitions: dict[str, dict[str, WorkflowDefinition]] = {}
        self._workflow_classes: dict[str, type[Any]] = {}

    def register(self, workflow_class: type[Any]) -> None:
        """Register a workflow class (anything with a ``get_definition()`` classmethod)."""
        definition = workflow_class.get_definition()
        self.register_definition(definition)
        self._workflow_classes[definition.name] = workflow_class

    def register_workflow_class(self, workflow_class: type[Any]) -> None:
        """Register a workflow class; the same as :meth:`register`."""
        self.register(workflow_class)

    def register_definition(self, definition: WorkflowDefinition) -> None:
        """Register a definition. Re-registering a version replaces it.

        Raises :class:`WorkflowValidationError` if a string condition is not an
        allowed expression, or if a step's ``send_back_to`` names a step it may not send
        back to (see :mod:`workflows_app.core.send_back`), or a four-eyes rule names an
        unknown step (see :mod:`workflows_app.core.four_eyes`).
        """
        errors = (
            definition.condition_errors()
            + send_back.definition_errors(definition)
            + four_eyes.definition_errors(definition)
        )
        if errors:
            raise WorkflowValidationError(errors)
        self._definitions.setdefault(definition.name, {})[definition.version] = definition

    def get_definition(self, name: str, version: str | None = None) -> WorkflowDefinition:
        """Return the definition of ``name`` at ``version`` (default: the latest)."""
        versions = self._definitions.get(name)
        if not versions:
            raise WorkflowNotFoundError(name)
        if version is None:
            return versions[max(versions, key=version_key)]
        try:
            return versions[version]
        except KeyError:
            raise WorkflowNotFoundError(name, version) from None

    def get_workflow_class(self, name: str) -> type[Any]:
        """Return the class registered for ``name``."""
        try:
            return self._workflow_classes[name]
        except KeyError:
            raise WorkflowNotFoundError(name) from None

    def list_definitions(self, active_only: bool = True) -> list[WorkflowDefinition]:
        """Return the latest version of each workflow, or every version."""
        if active_only:
            return [self.get_definition(name) for name in self._definitions]
        return [
            versions[version]
            for versions in self._definitions.values()
            for version in sorted(versions, key=version_key)
        ]

    def unregister(self, name: str, version: str | None = None) -> None:
        """Remove one version, or every version and the class, of ``name``."""
        versions = self._definitions.get(name)
        if versions is None:
            return
        if version is not None:
            versions.pop(version, None)
        if version is None or not versions:
            self._definitions.pop(name, None)
            self._workflow_classes.pop(name, None)

    def has_workflow(self, name: str, version: str | None = None) -> bool:
        """Return True if ``name`` (at ``version``, if given) is registered."""
        versions = self._definitions.get(name)
        if not versions:
            return False
        return version is None or version in versions

    def has_definition(self, name: str, version: str | None = None) -> bool:
        """Return True if ``name`` (at ``version``, if given) is registered."""
        return self.has_workflow(name, version)

    def get_versions(self, name: str) -> list[str]:
        """Return the registered versions of ``name``, lowest first."""
        versions = self._definitions.get(name)
        if not versions:
            raise WorkflowNotFoundError(name)
        return sorted(versions, key=version_key)

    def register_module(self, module: ModuleType) -> list[type[Any]]:
        """Register every workflow class defined in ``module``; return them.

        A workflow class is a class with a ``get_definition`` classmethod that
        the module itself defines (imported classes are left alone), and that
        has a name (so abstract bases are skipped).
        """
        found = []
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and callable(getattr(value, "get_definition", None))
                and getattr(value, "name", True)
            ):
                self.register(value)
                found.append(value)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has_workflow(name)

    def __repr__(self) -> str:
        return f"<WorkflowRegistry {sorted(self._definitions)}>"


default_registry = WorkflowRegistry()
"""The registry that ``workflows.py`` modules of installed apps are registered in."""
