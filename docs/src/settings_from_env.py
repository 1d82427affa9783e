# settings.py: what operators change per deployment comes from the environment
# (docs/installation.rst).
from __future__ import annotations

from workflows_app.conf import settings_from_env

WORKFLOWS = {
    "TENANT_RESOLVER": "mysite.tenancy.tenant_of",  # the same everywhere: in the code
    **settings_from_env(),  # WORKFLOWS_EXECUTION_MODE=worker, WORKFLOWS_LEASE_SECONDS=30, ...
}

# Check it: each variable gives its key, typed.
environ = {
    "WORKFLOWS_EXECUTION_MODE": "worker",
    "WORKFLOWS_DISPATCH": "celery",
    "WORKFLOWS_LEASE_SECONDS": "30",
    "WORKFLOWS_CHECKPOINT_INTERVAL": "0",
    "WORKFLOWS_LISTEN_NOTIFY": "off",
    "WORKFLOWS_API_TOKEN_CACHE_SECONDS": "5",
    "WORKFLOWS_API_MAX_BODY_BYTES": "2097152",
    "WORKFLOWS_API_AUTH": "workflows_app.api.auth.token_auth, mysite.auth.service_key_auth",
    "WORKFLOWS_REMINDER_EMAILS": "",  # empty: unset
    "DJANGO_SETTINGS_MODULE": "mysite.settings",  # not one of ours
}
assert settings_from_env(environ=environ) == {
    "EXECUTION_MODE": "worker",
    "DISPATCH": "celery",
    "LISTEN_NOTIFY": False,
    "LEASE_SECONDS": 30.0,
    "CHECKPOINT_INTERVAL": 0.0,
    "API_AUTH": ("workflows_app.api.auth.token_auth", "mysite.auth.service_key_auth"),
    "API_TOKEN_CACHE_SECONDS": 5.0,
    "API_MAX_BODY_BYTES": 2097152,
}
assert settings_from_env("MYSITE_FLOWS_", {"MYSITE_FLOWS_AUTODISCOVER": "no"}) == {
    "AUTODISCOVER": False
}
