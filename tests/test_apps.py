"""Workflows declared in installed apps' ``workflows`` modules are discovered at start-up."""

from __future__ import annotations

from workflows_app.apps import autodiscover
from workflows_app.core.registry import default_registry


def test_autodiscover__registers_the_demo_workflow_at_startup() -> None:
    definition = default_registry.get_definition("expense_approval")
    assert definition.version == "1.0.0"
    assert definition.initial_step == "submit"
    assert definition.terminal_steps == {"reimburse", "notify_rejection"}


def test_autodiscover__skips_imported_and_nameless_classes() -> None:
    found = autodiscover()
    names = {cls.__name__ for cls in found}
    assert names == {"ExpenseApproval", "OrderPipeline", "LedgerSync"}  # not Workflow, not steps
