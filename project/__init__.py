"""The demo Django project that serves workflows_app (``make run``) and hosts the test suite."""
