"""Viewflow 2.x on the bench workloads.

Run by :mod:`benchmarks.peers` with the python of a virtualenv that has django-viewflow
and Django; it imports nothing of ours::

    python viewflow_driver.py DATABASE_URL INSTANCES

``DATABASE_URL`` is ``sqlite:///path`` or ``postgres://user@host:port/name`` (an empty
database: it is migrated here). Prints one JSON line: instances/s per workload. The flows
are in :mod:`vfbench.flows`.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(url: str, count: int) -> dict[str, object]:
    os.environ["DJANGO_SETTINGS_MODULE"] = "vfbench.settings"
    os.environ["VFBENCH_DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.client import RequestFactory
    from vfbench.flows import ApprovalFlow, Linear3Flow, complete_review, reviewer
    from viewflow import __version__
    from viewflow.workflow.models import Process
    from viewflow.workflow.status import PROCESS

    call_command("migrate", verbosity=0)
    # ViewActivation.start() takes a request but does not read it (2.4.0); built once.
    request = RequestFactory().post("/")
    request.user = reviewer()

    def linear3() -> None:
        process = Linear3Flow.start.run(data={"n": 1})
        assert process.status == PROCESS.DONE, process.status

    def approval() -> None:
        process = ApprovalFlow.start.run(data={"n": 1})
        process = complete_review(process, request)
        assert process.status == PROCESS.DONE, process.status

    results: dict[str, object] = {"version": f"{__version__}, Django {django.get_version()}"}
    for name, one in (("linear3", linear3), ("approval", approval)):
        one()  # warm up
        started = time.perf_counter()
        for _ in range(count):
            one()
        results[name] = count / (time.perf_counter() - started)
    for flow_class, keys in ((Linear3Flow, "n a b c"), (ApprovalFlow, "n submit approved record")):
        done = Process.objects.filter(flow_class=flow_class, status=PROCESS.DONE)
        complete = sum(set(p.data) == set(keys.split()) for p in done)
        assert complete == count + 1, (flow_class, complete)
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
