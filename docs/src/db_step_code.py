# Step code: sync and async steps, decorated, using Django's async ORM.
from __future__ import annotations

import functools
import logging

from django.contrib.auth import get_user_model

from workflows_app import BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine

log = logging.getLogger("onboarding")


def logged(method):
    """An ordinary decorator: the runner awaits what the wrapper returns."""

    @functools.wraps(method)
    def wrapper(self, context):
        log.info("running %s", self.name)
        return method(self, context)

    return wrapper


class CreateAccount(BaseMachineStep):
    name = "create_account"

    @logged
    async def execute(self, context):
        user = await get_user_model().objects.acreate(username=context.get("username"))
        context.set("user_id", user.pk)


class Greet(BaseMachineStep):
    name = "greet"

    def execute(self, context):
        context.set("greeting", f"Welcome, {context.get('username')}")


class Account(Workflow):
    name = "account"
    steps = [CreateAccount, Greet]
    edges = [("create_account", "greet")]


registry = WorkflowRegistry()
registry.register(Account)
engine = PersistentExecutionEngine(registry)

instance = engine.start_workflow_sync("account", {"username": "grace"})
assert instance.status == "completed"
assert instance.context.get("user_id") == get_user_model().objects.get(username="grace").pk
