"""Outbound HTTP for notifications: one client setup and one retry policy for webhooks and Graph alike.

Transient failures (timeouts, connection errors, 429, 5xx) are retried with exponential backoff, honouring
`Retry-After` up to a cap; any other 4xx is permanent: sending the same request again cannot succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from emailbot import __version__

USER_AGENT = f"EmailBot/{__version__}"
MAX_RETRY_AFTER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    backoff_seconds: float = 1.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(self.backoff_seconds * 2.0 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """The last response (or transport error) after retrying; `permanent` says whether retrying later is pointless."""

    response: httpx.Response | None
    attempts: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.is_success

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def permanent(self) -> bool:
        return self.status is not None and is_permanent(self.status)


def make_client(timeout: float, *, verify: str | bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        verify=verify,
        follow_redirects=False,
    )


def is_permanent(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 429)


def is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


async def send_with_retry(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> HttpOutcome:
    response: httpx.Response | None = None
    error: str | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            response = await send()
            error = None if response.is_success else f"HTTP {response.status_code}: {_short(response)}"
        except httpx.TransportError as exc:  # timeouts, refused connections, TLS failures
            response, error = None, f"{type(exc).__name__}: {exc}".rstrip(": ")
        if response is not None and not is_transient(response.status_code):
            return HttpOutcome(response, attempt, error)
        if attempt < policy.attempts:
            await sleep(policy.delay(attempt, _retry_after(response)))
    return HttpOutcome(response, policy.attempts, error)


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _short(response: httpx.Response, limit: int = 300) -> str:
    """The start of an error body: enough to diagnose, never a whole page in a database row."""
    try:
        text = response.text
    except UnicodeDecodeError:
        return "(binary body)"
    return " ".join(text.split())[:limit]
