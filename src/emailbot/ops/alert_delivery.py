"""Alert delivery: a generic JSON POST of the alert to each configured webhook, with retries.

Kept behind one function (`post_to_webhooks`) so that the notifiers in `notify/` (Teams Workflows, Slack, signed
webhooks) can take over delivery without the sink changing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from emailbot import __version__

log = logging.getLogger(__name__)

Deliver = Callable[[Sequence[str], dict[str, Any]], Awaitable[str | None]]

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


async def post_to_webhooks(urls: Sequence[str], payload: dict[str, Any]) -> str | None:
    """POST the payload to every URL; returns None when all accepted it, else one line per failed URL."""
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": f"EmailBot/{__version__}"}) as client:
        errors = [await _post_with_retries(client, url, payload) for url in urls]
    failures = [error for error in errors if error]
    return "; ".join(failures) or None


async def _post_with_retries(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> str | None:
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        else:
            if response.is_success:
                return None
            error = f"HTTP {response.status_code}"
            if response.status_code not in RETRYABLE_STATUS:
                break
        if attempt < ATTEMPTS:
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    # The URL may hold a token (Slack, Teams Workflows): only its host is logged.
    host = httpx.URL(url).host
    log.warning("alert webhook on %s failed after %d attempts: %s", host, ATTEMPTS, error)
    return f"{host}: {error}"
