"""The Django admin: the task inbox and the operations console (registered on import)."""
