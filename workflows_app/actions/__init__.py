"""The pages behind the action links of task e-mails (``WORKFLOWS["ACTION_LINKS"]``).

A project that turns action links on includes :mod:`workflows_app.actions.urls`::

    path("workflows/actions/", include("workflows_app.actions.urls")),

See :mod:`workflows_app.engine.action_links` for what a link holds and which forms get
answer links.
"""
