"""Benchmarks: ``make bench`` (or ``python -m benchmarks``). They print figures; nothing asserts a time."""
