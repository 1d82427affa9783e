"""``manage.py workflows_token <username>``: print a bearer token for the REST API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows_app import conf
from workflows_app.api.auth import make_token


class Command(BaseCommand):
    help = (
        "Print a bearer token for the REST API, for the user with this username. It stays "
        "valid for WORKFLOWS['API_TOKEN_MAX_AGE'] seconds, until the user's password "
        "changes, or until the user is deactivated."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", help="The user the token authenticates.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        lookup = {user_model.USERNAME_FIELD: options["username"]}
        user = user_model._default_manager.filter(**lookup).first()
        if user is None:
            raise CommandError(f"No user with {user_model.USERNAME_FIELD} {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"The user {options['username']!r} is not active.")
        days = conf.get_settings().API_TOKEN_MAX_AGE / 86400
        self.stderr.write(f"Valid for {days:g} days. Send it as 'Authorization: Bearer <token>'.")
        self.stdout.write(make_token(user))
