"""Faces of the engine for other frameworks (installed with their extra)."""
