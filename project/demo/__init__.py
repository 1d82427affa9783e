"""The demo app: example workflows and the ``demo_setup`` command."""
