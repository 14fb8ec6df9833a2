"""An async Microsoft Graph client on httpx: tokens from MSAL, retries that honour Retry-After, at most N requests
in flight per mailbox, and JSON batching that groups concurrent calls into `$batch` requests of up to 20.

Graph throttles per app and mailbox (4 concurrent requests, 10,000 requests per 10 minutes; the items of a `$batch`
count one by one). Every request for a mailbox holds that mailbox's slots while it is on the wire (a `$batch` as many
as Graph runs its items at once, up to 4), and calls made at about the same time (the workers marking and answering
emails side by side) share one `$batch` request: the batch flusher only takes its items once it holds its slots, so
while they are busy the next batch fills up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

import httpx

from emailbot.mail.graph.auth import TokenProvider
from emailbot.mail.graph.batching import BatchQueue
from emailbot.mail.graph.errors import GraphError, graph_error
from emailbot.mail.graph.retry import MAX_ATTEMPTS, TOKEN_RENEWALS, backoff_delay, retry_after_seconds
from emailbot.mail.graph.slots import MailboxSlot, WeightedSlots
from emailbot.mail.graph.wire import GraphRequest, GraphResponse, never_sent, parsed_body

__all__ = ["GraphClient", "GraphRequest", "GraphResponse"]

log = logging.getLogger(__name__)


class GraphClient:
    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        ca_bundle: str | None = None,
        max_concurrency: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.max_concurrency = max_concurrency
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._http = httpx.AsyncClient(base_url=self.base_url, verify=verify, timeout=timeout)
        self._limits: dict[str, WeightedSlots] = {}
        self._batches: dict[str, BatchQueue] = {}
        self.requests_sent: Counter[str] = Counter()  # HTTP requests put on the wire, by kind
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    async def aclose(self) -> None:
        await self._http.aclose()
        self.tokens.close()

    @property
    def total_requests(self) -> int:
        return sum(self.requests_sent.values())

    # -- single requests -----------------------------------------------------------------------------------

    async def call(
        self, mailbox: str, request: GraphRequest, *, idempotent: bool = True, what: str = ""
    ) -> GraphResponse:
        """One HTTP request to Graph, retried on throttling and transient failures; raises GraphError otherwise."""

        async def once() -> GraphResponse:
            async with self.slot(mailbox):
                return await self.exchange(request, kind=_kind(request))

        return await self._with_retries(once, idempotent=idempotent, what=what or f"{request.method} {request.url}")

    # -- batched requests ----------------------------------------------------------------------------------

    async def batched(
        self, mailbox: str, chain: Sequence[GraphRequest], *, idempotent: bool = True, what: str = ""
    ) -> list[GraphResponse]:
        """Run `chain` inside a `$batch` request shared with other callers; each step `dependsOn` the one before.

        A step that fails transiently is retried (after its own Retry-After) together with the steps after it;
        the steps before it succeeded and are not repeated. Raises GraphError for a step that fails for good.
        """
        done: list[GraphResponse] = []
        remaining = list(chain)
        label = what or " → ".join(f"{r.method} {r.url}" for r in chain)
        attempt = 0
        while True:
            attempt += 1
            try:
                responses = await self._queue(mailbox).submit(remaining)
            except GraphError as envelope_error:  # the whole $batch request failed
                await self._pause_or_raise(envelope_error, attempt, idempotent=idempotent)
                continue
            for index, response in enumerate(responses):
                if response.status < 400:
                    continue
                done.extend(responses[:index])
                remaining = remaining[index:]
                if response.status == 401 and attempt <= TOKEN_RENEWALS:
                    await self._renew_token(attempt)
                    break
                await self._pause_or_raise(self.error_of(response, label), attempt, idempotent=idempotent)
                break
            else:
                return done + responses

    def _queue(self, mailbox: str) -> BatchQueue:
        if mailbox not in self._batches:
            self._batches[mailbox] = BatchQueue(self, mailbox)
        return self._batches[mailbox]

    # -- plumbing ------------------------------------------------------------------------------------------

    def slot(self, mailbox: str, weight: int = 1) -> MailboxSlot:
        """`weight` of the mailbox's request slots, held while a request is on the wire.

        A `$batch` takes as many slots as Graph runs its items at once (up to 4): they count against the mailbox's
        concurrency limit like single requests.
        """
        if mailbox not in self._limits:
            self._limits[mailbox] = WeightedSlots(self.max_concurrency)
        weight = min(weight, self.max_concurrency)
        return MailboxSlot(mailbox, self._limits[mailbox], weight, self.in_flight, self.max_in_flight)

    async def exchange(self, request: GraphRequest, *, kind: str) -> GraphResponse:
        token = await self.tokens.token()
        headers = {"Authorization": f"Bearer {token.access_token}", **request.headers}
        content = None
        if request.body is not None:
            content = json.dumps(request.body).encode()
            headers.setdefault("Content-Type", "application/json")
        self.requests_sent[kind] += 1
        response = await self._http.request(request.method, request.url, content=content, headers=headers)
        return GraphResponse(response.status_code, dict(response.headers), parsed_body(response))

    async def _with_retries(
        self, once: Callable[[], Awaitable[GraphResponse]], *, idempotent: bool, what: str
    ) -> GraphResponse:
        for attempt in itertools.count(1):
            try:
                response = await once()
            except httpx.TransportError as exc:
                error = GraphError(f"{what}: {type(exc).__name__}: {exc}", status=0, ambiguous=not never_sent(exc))
                await self._pause_or_raise(error, attempt, idempotent=idempotent)
                continue
            if response.status < 400:
                return response
            if response.status == 401 and attempt <= TOKEN_RENEWALS:
                await self._renew_token(attempt)
                continue
            await self._pause_or_raise(self.error_of(response, what), attempt, idempotent=idempotent)
        raise AssertionError("unreachable")

    async def _renew_token(self, attempt: int) -> None:
        """Graph refused the token (expired or revoked early): get a new one, pausing if that already failed."""
        if attempt > 1:  # a brand-new token refused too: give clocks (and token issuance) a second to move on
            await asyncio.sleep(max(1.0, backoff_delay(attempt, None)))
        await self.tokens.token(force_refresh=True)

    def error_of(self, response: GraphResponse, what: str) -> GraphError:
        return graph_error(response.status, response.body, what, retry_after=retry_after_seconds(response.headers))

    async def _pause_or_raise(self, error: GraphError, attempt: int, *, idempotent: bool) -> None:
        """Wait before the next attempt, or raise when the error is final, ambiguous for a write, or too frequent."""
        if error.permanent or attempt >= MAX_ATTEMPTS or (error.ambiguous and not idempotent):
            raise error
        delay = backoff_delay(attempt, error.retry_after)
        log.info("graph: %s; retrying in %.2fs (attempt %d)", error, delay, attempt)
        await asyncio.sleep(delay)


def _kind(request: GraphRequest) -> str:
    path = request.url.split("?", 1)[0]
    if "/delta" in path:
        return "delta"
    if path.endswith("/$value"):
        return "mime"
    return f"{request.method} {path.rsplit('/', 1)[-1] if '/messages/' in path else path.split('/')[-1]}"
