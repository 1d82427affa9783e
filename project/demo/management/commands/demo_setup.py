"""Prepare the demo database: an ``admin``/``admin`` superuser (created or reset)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"
PASSWORD = "admin"


class Command(BaseCommand):
    help = "Create or reset the demo superuser admin/admin. Refuses to run when DEBUG is off."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_setup creates a superuser with a known password; it runs only with DEBUG on."
            )
        user_model = get_user_model()
        user, created = user_model._default_manager.get_or_create(username=USERNAME)
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.set_password(PASSWORD)
        user.save()
        self.stdout.write(f"{'Created' if created else 'Updated'} the demo superuser.")
        self.stdout.write(
            self.style.SUCCESS(f"Log in at http://127.0.0.1:8000/admin/ as {USERNAME} / {PASSWORD}")
        )
