"""Celery workers run workflow instances (``WORKFLOWS["DISPATCH"] = "celery"``).

Needs the ``celery`` extra: ``pip install 'django-workflows-app[celery]'``.

- :mod:`~workflows_app.contrib.celery.tasks`: the tasks ``workflows_app.run_instance``
  and ``workflows_app.run_due`` (re-exported by ``workflows_app.tasks``, where
  ``app.autodiscover_tasks()`` finds them).
- :mod:`~workflows_app.contrib.celery.dispatch`: the dispatcher that the engine uses with
  ``DISPATCH = "celery"``; it queues ``run_instance`` once the commit that made an
  instance runnable is done.

Nothing is imported here, so that importing the package needs neither Celery nor Django.
"""
