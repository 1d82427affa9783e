"""``manage.py workflows_worker``: run workflow steps in the background."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.engine.worker import Worker


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return number


class Command(BaseCommand):
    help = "Claim workflow instances that have steps to run, and run them."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=_positive_int,
            default=1,
            help="Threads, each running one instance at a time (default: %(default)r).",
        )
        parser.add_argument(
            "--workflow",
            action="append",
            dest="workflows",
            metavar="NAME",
            help="Run only instances of this workflow (repeat for several).",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Exit once nothing is due (for cron jobs and tests).",
        )
        parser.add_argument(
            "--poll-interval",
            type=_positive_float,
            default=1.0,
            help="Seconds to wait when nothing is due (default: %(default)r).",
        )
        parser.add_argument(
            "--max-instances",
            type=_positive_int,
            help="Exit after running this many instances.",
        )
        parser.add_argument("--worker-id", help="A name for this worker in leases and logs.")
        parser.add_argument(
            "--no-listen",
            action="store_false",
            dest="listen",
            help="Only poll: do not LISTEN for the engine's notifications (PostgreSQL).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(options["verbosity"])
        worker = Worker(
            worker_id=options["worker_id"],
            workflows=options["workflows"],
            concurrency=options["concurrency"],
            burst=options["burst"],
            poll_interval=options["poll_interval"],
            max_instances=options["max_instances"],
            listen=options["listen"],
        )
        self._handle_signals(worker)
        count = worker.run()
        if options["verbosity"]:
            self.stdout.write(f"Worker {worker.worker_id} ran {count} instance(s).")

    def _handle_signals(self, worker: Worker) -> None:
        """The first SIGINT or SIGTERM finishes the running instances; a second one exits."""
        received = []

        def on_signal(number: int, frame: Any) -> None:
            received.append(number)
            if len(received) == 1:
                self.stderr.write("Stopping: finishing the instances being run (again to quit).")
                worker.stop()
            else:
                sys.exit(1)

        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, on_signal)

    def _configure_logging(self, verbosity: int) -> None:
        log = logging.getLogger("workflows_app")
        log.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
        if not log.handlers:
            handler = logging.StreamHandler(self.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)
