# A project's own authentication for the REST API: one key per service account
# (docs/rest-api.rst). It goes into WORKFLOWS["API_AUTH"] by its dotted path.
from __future__ import annotations

import hashlib

from django.contrib.auth import get_user_model
from ninja.security import APIKeyHeader

# The SHA-256 of each key, and the username of its service account. A real project keeps
# these in a table or a secret store, not in its code.
SERVICE_KEYS = {
    hashlib.sha256(b"key-of-the-billing-service").hexdigest(): "billing-bot",
}


class ServiceKeyAuth(APIKeyHeader):
    """``X-Service-Key: <key>``."""

    param_name = "X-Service-Key"

    def authenticate(self, request, key):
        username = SERVICE_KEYS.get(hashlib.sha256(key.encode()).hexdigest()) if key else None
        if username is None:
            return None  # the next callable of API_AUTH tries; after the last one: 401
        user = get_user_model()._default_manager.filter(username=username, is_active=True).first()
        if user is not None:
            # The API reads the caller from what this returns; the tenant resolver, like
            # most Django code, reads request.user.
            request.user = user
        return user


service_key_auth = ServiceKeyAuth()

# Check it: the right key gives the user; another key, or none, gives nothing.
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.test import RequestFactory  # noqa: E402

bot = get_user_model().objects.create_user("billing-bot")
request = RequestFactory().get("/", headers={"X-Service-Key": "key-of-the-billing-service"})
request.user = AnonymousUser()
assert service_key_auth(request) == bot
assert request.user == bot
wrong = RequestFactory().get("/", headers={"X-Service-Key": "guess"})
assert service_key_auth(wrong) is None
assert service_key_auth(RequestFactory().get("/")) is None
