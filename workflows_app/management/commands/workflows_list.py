"""``manage.py workflows_list``: failed or stuck instances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.management.commands import _instances


class Command(BaseCommand):
    help = "List failed instances (--failed) or stuck ones (--stuck)."

    def add_arguments(self, parser: Any) -> None:
        _instances.add_selection(parser, states=("failed", "stuck"))

    def handle(self, *args: Any, **options: Any) -> None:
        rows = list(_instances.select(options))
        for row in rows:
            self.stdout.write(_instances.describe(row))
        self.stdout.write(f"{len(rows)} instance(s)")
