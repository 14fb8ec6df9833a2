"""How long to wait before calling Graph again: its Retry-After when it gave one, else backoff with full jitter."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

from emailbot.store.tables import utcnow

MAX_ATTEMPTS = 8
BASE_DELAY = 0.5
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 300.0
TOKEN_RENEWALS = 3
"""How often a refused token is renewed before the 401 counts as an error like any other."""


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Retry-After as seconds (Graph sends seconds; an HTTP date is accepted too)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max((when - utcnow()).total_seconds(), 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Retry-After when Graph gave one; otherwise exponential backoff with full jitter."""
    if retry_after is not None:
        return retry_after
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not crypto
