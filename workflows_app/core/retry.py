"""Retry policies: how often, and how far apart, a failing step is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Try a failing step again, with exponential back-off.

    Attempt ``n`` (from 1) that fails is followed by attempt ``n + 1`` after
    ``initial_interval * backoff_coefficient ** (n - 1)``, at most
    ``max_interval``, moved by up to ``jitter`` (a fraction) either way. After
    ``max_attempts`` attempts, or on an exception of a ``non_retryable`` type,
    the step fails for good.

    Example::

        class CallBank(BaseMachineStep):
            name = "call_bank"
            retry_policy = RetryPolicy(max_attempts=5, initial_interval=timedelta(seconds=2))
    """

    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    max_interval: timedelta | None = timedelta(minutes=5)
    jitter: float = 0.1
    non_retryable: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.initial_interval < timedelta(0):
            problems.append("initial_interval must not be negative")
        if self.backoff_coefficient < 1:
            problems.append("backoff_coefficient must be at least 1")
        if self.max_interval is not None and self.max_interval < timedelta(0):
            problems.append("max_interval must not be negative")
        if not 0 <= self.jitter <= 1:
            problems.append("jitter must be between 0 and 1")
        if problems:
            raise ValueError("; ".join(problems))

    def should_retry(self, attempt: int, error: BaseException | None) -> bool:
        """Return True if attempt ``attempt``, which raised ``error``, is to be tried again."""
        if attempt >= self.max_attempts:
            return False
        return not (error is not None and isinstance(error, self.non_retryable))

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """Return how long to wait after failed attempt ``attempt`` (from 1)."""
        seconds = self.initial_interval.total_seconds() * self.backoff_coefficient ** (attempt - 1)
        if self.max_interval is not None:
            seconds = min(seconds, self.max_interval.total_seconds())
        if self.jitter:
            seconds *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return timedelta(seconds=max(seconds, 0))
