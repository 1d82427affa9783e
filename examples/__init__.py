"""Runnable examples (not part of the distribution)."""
