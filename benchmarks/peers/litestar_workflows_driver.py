"""litestar-workflows' own persistent engine on the bench workloads.

Run by :mod:`benchmarks.peers` with the python of a virtualenv that has
``litestar-workflows[db]`` (and aiosqlite or asyncpg); it imports nothing of ours::

    python litestar_workflows_driver.py DATABASE_URL INSTANCES

``DATABASE_URL`` is ``sqlite:///path`` or ``postgres://user@host:port/name`` (an empty
database: the tables are created here). Prints one JSON line: instances/s per workload.

The engine is driven the way its documentation shows: ``async def execute`` steps,
``await engine.start_workflow(WorkflowClass, initial_data=...)``, then
``await engine.get_instance(id)`` until the instance is no longer running, and for the
approval ``await engine.complete_human_task(...)``. Each call gets its own session and
engine, as a web request does: the engine runs an instance in a background task that
uses the engine's session, so polling through that same session is not safe, and an
engine that paused an instance at a human step does not resume it itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.models import WorkflowInstanceModel
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


class Step(BaseMachineStep):
    async def execute(self, context):
        context.set(self.name, True)
        return {"step": self.name}


class Linear3:
    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name="bench_linear3",
            version="1.0.0",
            description="three machine steps",
            steps={name: Step(name=name) for name in ("a", "b", "c")},
            edges=[Edge("a", "b"), Edge("b", "c")],
            initial_step="a",
            terminal_steps={"c"},
        )


class Approval:
    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        approve = BaseHumanStep(
            name="approve",
            title="Approve",
            form_schema={
                "type": "object",
                "properties": {"approved": {"type": "boolean"}},
                "required": ["approved"],
            },
        )
        return WorkflowDefinition(
            name="bench_approval",
            version="1.0.0",
            description="a machine step, a human step, a machine step",
            steps={
                "submit": Step(name="submit"),
                "approve": approve,
                "record": Step(name="record"),
            },
            edges=[Edge("submit", "approve"), Edge("approve", "record")],
            initial_step="submit",
            terminal_steps={"record"},
        )


def _database(url: str):
    if url.startswith("sqlite:"):
        engine = create_async_engine(url.replace("sqlite:", "sqlite+aiosqlite:", 1))

        @event.listens_for(engine.sync_engine, "connect")
        def pragmas(dbapi_connection, record):  # the same options as our SQLite settings
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url.replace("postgres://", "postgresql+asyncpg://", 1))


async def main(url: str, count: int) -> dict[str, object]:
    database = _database(url)
    async with database.begin() as connection:
        await connection.run_sync(WorkflowInstanceModel.metadata.create_all)
    sessions = async_sessionmaker(database, expire_on_commit=False)
    registry = WorkflowRegistry()
    registry.register(Linear3)
    registry.register(Approval)

    async def get_instance(instance_id):
        async with sessions() as session:
            return await PersistentExecutionEngine(registry, session).get_instance(instance_id)

    async def settled(method, *args, **kwargs):
        """Call ``method`` on a fresh engine, then poll until the instance is not running."""
        async with sessions() as session:
            result = await getattr(PersistentExecutionEngine(registry, session), method)(
                *args, **kwargs
            )
            instance_id = result.id if method == "start_workflow" else args[0]
            instance = await get_instance(instance_id)
            while instance.status == WorkflowStatus.RUNNING:
                instance = await get_instance(instance_id)
            # The engine's run task ends before its session is closed.
            await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
            return instance

    async def linear3() -> None:
        instance = await settled("start_workflow", Linear3, initial_data={"n": 1})
        assert instance.status == WorkflowStatus.COMPLETED, instance.status

    async def approval() -> None:
        instance = await settled("start_workflow", Approval, initial_data={"n": 1})
        assert instance.status == WorkflowStatus.WAITING, instance.status
        args = (instance.id, "approve", "bob", {"approved": True})
        instance = await settled("complete_human_task", *args)
        assert instance.status == WorkflowStatus.COMPLETED, instance.status

    results: dict[str, object] = {"version": version("litestar-workflows")}
    for name, one in (("linear3", linear3), ("approval", approval)):
        await one()  # warm up: the definition row, connections
        started = time.perf_counter()
        for _ in range(count):
            await one()
        results[name] = count / (time.perf_counter() - started)
    async with sessions() as session:
        completed = await session.scalar(
            select(func.count()).where(WorkflowInstanceModel.status == WorkflowStatus.COMPLETED)
        )
    assert completed == 2 * (count + 1), completed
    await database.dispose()
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
