from __future__ import annotations

from django.apps import AppConfig


class WorkflowsAppConfig(AppConfig):
    name = "workflows_app"
    label = "workflows_app"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing the module registers the system checks.
        from workflows_app import checks, conf  # noqa: F401

        if conf.get_settings().AUTODISCOVER:
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
