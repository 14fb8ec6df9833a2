"""A circuit breaker around the LLM: after repeated failures, stop calling it for a while, then try one request.

closed → (N failures in a row) → open → (reset time passes) → half-open → one trial request → closed or open again.
While it is open every email goes straight to the local model, so an outage costs no timeouts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class BreakerSnapshot:
    state: str
    failures: int
    last_error: str | None
    opened_at: float | None


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, reset_seconds: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.failures = 0
        self.last_error: str | None = None
        self.opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        if time.monotonic() - self.opened_at >= self.reset_seconds:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a request go out now? In half-open state only one trial request at a time.

        A trial that never reported back (cancelled, or lost to an unexpected error) expires after the reset time,
        so the breaker cannot stay half-open for ever.
        """
        state = self.state
        if state == CLOSED:
            return True
        now = time.monotonic()
        trial_running = self._trial_started_at is not None and now - self._trial_started_at < self.reset_seconds
        if state == HALF_OPEN and not trial_running:
            self._trial_started_at = now
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_started_at = None

    def record_failure(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self._trial_started_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = time.monotonic()
        self._trial_started_at = None

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(self.state, self.failures, self.last_error, self.opened_at)
