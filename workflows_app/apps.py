from __future__ import annotations

from collections.abc import Mapping

from django.apps import AppConfig


class WorkflowsAppConfig(AppConfig):
    name = "workflows_app"
    label = "workflows_app"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing the module registers the system checks.
        from workflows_app import checks, conf  # noqa: F401

        # Start-up reads only the key it needs, and does not fail on a wrong value: the
        # checks, which cannot run if start-up fails, report it (workflows_app.E002).
        raw = conf.raw_setting()
        if isinstance(raw, Mapping) and raw.get("AUTODISCOVER", True) is True:
            autodiscover()


def autodiscover() -> list[type]:
    """Register the workflow classes of every installed app's ``workflows`` module.

    They go into :data:`workflows_app.core.registry.default_registry`. Return
    the classes registered.
    """
    from importlib import import_module

    from django.apps import apps
    from django.utils.module_loading import module_has_submodule

    from workflows_app.core.registry import default_registry

    found: list[type] = []
    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "workflows"):
            module = import_module(f"{app_config.name}.workflows")
            found.extend(default_registry.register_module(module))
    return found
