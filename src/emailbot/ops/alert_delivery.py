"""Alert delivery: a generic JSON POST of the alert to each configured webhook, with the notifiers' retry policy.

Kept behind one function (`post_to_webhooks`) so that the sink does not care how an alert travels; the HTTP client
and the retries (transient failures retried with backoff, `Retry-After` honoured) are those of `notify/http.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from emailbot.notify.http import RetryPolicy, make_client, send_with_retry

log = logging.getLogger(__name__)

Deliver = Callable[[Sequence[str], dict[str, Any]], Awaitable[str | None]]

POLICY = RetryPolicy(attempts=3, backoff_seconds=0.5)
TIMEOUT_SECONDS = 10.0


async def post_to_webhooks(urls: Sequence[str], payload: dict[str, Any]) -> str | None:
    """POST the payload to every URL; returns None when all accepted it, else one line per failed URL."""
    async with make_client(TIMEOUT_SECONDS) as client:
        errors = [await _post(client, url, payload) for url in urls]
    failures = [error for error in errors if error]
    return "; ".join(failures) or None


async def _post(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> str | None:
    outcome = await send_with_retry(lambda: client.post(url, json=payload), POLICY)
    if outcome.ok:
        return None
    # The URL may hold a token (Slack, Teams Workflows): only its host is logged.
    host = httpx.URL(url).host
    # A transport error is named by its type only: its text may carry the address.
    error = f"HTTP {outcome.status}" if outcome.status is not None else (outcome.error or "no answer").partition(":")[0]
    log.warning("alert webhook on %s failed after %d attempts: %s", host, outcome.attempts, error)
    return f"{host}: {error}"
