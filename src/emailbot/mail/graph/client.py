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
import base64
import itertools
import json
import logging
import random
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from emailbot.mail.graph.auth import TokenProvider
from emailbot.mail.graph.errors import GraphError, graph_error
from emailbot.store.tables import utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 20
MAX_ATTEMPTS = 8
BASE_DELAY = 0.5
MAX_DELAY = 30.0
MAX_RETRY_AFTER = 300.0
BATCH_LINGER_SECONDS = 0.2
TOKEN_RENEWALS = 3
BATCH_PARALLELISM = 4
"""How many items of one `$batch` Graph runs at once, each counting against the mailbox's concurrency limit."""


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """One Graph call, relative to the API root (`/users/...`)."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GraphResponse:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, raw bytes for other content, None when empty

    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


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
        self._limits: dict[str, _WeightedSlots] = {}
        self._batches: dict[str, _BatchQueue] = {}
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
                return await self._exchange(request, kind=_kind(request))

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
                await self._pause_or_raise(self._error_of(response, label), attempt, idempotent=idempotent)
                break
            else:
                return done + responses

    def _queue(self, mailbox: str) -> _BatchQueue:
        if mailbox not in self._batches:
            self._batches[mailbox] = _BatchQueue(self, mailbox)
        return self._batches[mailbox]

    # -- plumbing ------------------------------------------------------------------------------------------

    def slot(self, mailbox: str, weight: int = 1) -> _Slot:
        """`weight` of the mailbox's request slots, held while a request is on the wire.

        A `$batch` takes as many slots as Graph runs its items at once (up to 4): they count against the mailbox's
        concurrency limit like single requests.
        """
        if mailbox not in self._limits:
            self._limits[mailbox] = _WeightedSlots(self.max_concurrency)
        return _Slot(self, mailbox, self._limits[mailbox], min(weight, self.max_concurrency))

    async def _exchange(self, request: GraphRequest, *, kind: str) -> GraphResponse:
        token = await self.tokens.token()
        headers = {"Authorization": f"Bearer {token.access_token}", **request.headers}
        content = None
        if request.body is not None:
            content = json.dumps(request.body).encode()
            headers.setdefault("Content-Type", "application/json")
        self.requests_sent[kind] += 1
        response = await self._http.request(request.method, request.url, content=content, headers=headers)
        return GraphResponse(response.status_code, dict(response.headers), _parsed_body(response))

    async def _with_retries(
        self, once: Callable[[], Awaitable[GraphResponse]], *, idempotent: bool, what: str
    ) -> GraphResponse:
        for attempt in itertools.count(1):
            try:
                response = await once()
            except httpx.TransportError as exc:
                # A connection never made sent nothing; any later failure may have reached Graph.
                not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                error = GraphError(f"{what}: {type(exc).__name__}: {exc}", status=0, ambiguous=not not_sent)
                await self._pause_or_raise(error, attempt, idempotent=idempotent)
                continue
            if response.status < 400:
                return response
            if response.status == 401 and attempt <= TOKEN_RENEWALS:
                await self._renew_token(attempt)
                continue
            await self._pause_or_raise(self._error_of(response, what), attempt, idempotent=idempotent)
        raise AssertionError("unreachable")

    async def _renew_token(self, attempt: int) -> None:
        """Graph refused the token (expired or revoked early): get a new one, pausing if that already failed."""
        if attempt > 1:  # a brand-new token refused too: give clocks (and token issuance) a second to move on
            await asyncio.sleep(max(1.0, backoff_delay(attempt, None)))
        await self.tokens.token(force_refresh=True)

    def _error_of(self, response: GraphResponse, what: str) -> GraphError:
        return graph_error(response.status, response.body, what, retry_after=retry_after_seconds(response.headers))

    async def _pause_or_raise(self, error: GraphError, attempt: int, *, idempotent: bool) -> None:
        """Wait before the next attempt, or raise when the error is final, ambiguous for a write, or too frequent."""
        if error.permanent or attempt >= MAX_ATTEMPTS or (error.ambiguous and not idempotent):
            raise error
        delay = backoff_delay(attempt, error.retry_after)
        log.info("graph: %s; retrying in %.2fs (attempt %d)", error, delay, attempt)
        await asyncio.sleep(delay)


class _WeightedSlots:
    """A semaphore whose holders take several units at once, all or nothing (so two can never deadlock)."""

    def __init__(self, units: int) -> None:
        self.free = units
        self._changed = asyncio.Condition()

    async def acquire(self, units: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= units)
            self.free -= units

    async def release(self, units: int) -> None:
        if units <= 0:
            return
        async with self._changed:
            self.free += units
            self._changed.notify_all()


class _Slot:
    def __init__(self, client: GraphClient, mailbox: str, slots: _WeightedSlots, weight: int) -> None:
        self.client = client
        self.mailbox = mailbox
        self.slots = slots
        self.weight = weight

    async def __aenter__(self) -> _Slot:
        await self.slots.acquire(self.weight)
        self._count(self.weight)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._count(-self.weight)
        await self.slots.release(self.weight)

    async def shrink(self, weight: int) -> None:
        """Give back what a smaller batch than expected does not use."""
        spare = self.weight - max(1, min(weight, self.weight))
        if spare > 0:
            self.weight -= spare
            self._count(-spare)
            await self.slots.release(spare)

    def _count(self, change: int) -> None:
        counter = self.client.in_flight
        counter[self.mailbox] += change
        peak = self.client.max_in_flight
        peak[self.mailbox] = max(peak[self.mailbox], counter[self.mailbox])


@dataclass
class _Pending:
    chain: list[GraphRequest]
    future: asyncio.Future[list[GraphResponse]]


class _BatchQueue:
    """Calls waiting to go out in a `$batch` request for one mailbox."""

    def __init__(self, client: GraphClient, mailbox: str) -> None:
        self.client = client
        self.mailbox = mailbox
        self.pending: list[_Pending] = []
        self.waiting_flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, chain: list[GraphRequest]) -> list[GraphResponse]:
        if not 0 < len(chain) <= MAX_BATCH:
            raise ValueError(f"a chain must have 1 to {MAX_BATCH} steps")
        future: asyncio.Future[list[GraphResponse]] = asyncio.get_running_loop().create_future()
        self.pending.append(_Pending(chain, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        needed = -(-sum(len(p.chain) for p in self.pending) // MAX_BATCH)
        while self.waiting_flushers < needed:
            self.waiting_flushers += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        await asyncio.sleep(BATCH_LINGER_SECONDS)  # let calls made at the same moment join
        async with self.client.slot(self.mailbox, weight=BATCH_PARALLELISM) as slot:
            self.waiting_flushers -= 1
            taken = self._take()
            if taken:
                await slot.shrink(_parallel_items(taken))
                await self._send(taken)
        if self.pending:
            self._kick()

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        size = 0
        while self.pending and size + len(self.pending[0].chain) <= MAX_BATCH:
            item = self.pending.pop(0)
            if item.future.cancelled():
                continue
            taken.append(item)
            size += len(item.chain)
        return taken

    async def _send(self, taken: list[_Pending]) -> None:
        requests: list[dict[str, Any]] = []
        for index, item in enumerate(taken):
            for step, request in enumerate(item.chain):
                entry: dict[str, Any] = {"id": f"{index}.{step}", "method": request.method, "url": request.url}
                if request.body is not None:
                    entry["body"] = request.body
                    entry["headers"] = {"Content-Type": "application/json", **request.headers}
                elif request.headers:
                    entry["headers"] = dict(request.headers)
                if step:
                    entry["dependsOn"] = [f"{index}.{step - 1}"]
                requests.append(entry)
        envelope = GraphRequest("POST", "/$batch", {"requests": requests})
        try:
            response = await self.client._exchange(envelope, kind="$batch")
        except httpx.TransportError as exc:
            not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            error = GraphError(f"$batch: {type(exc).__name__}: {exc}", ambiguous=not not_sent)
            _fail_all(taken, error)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. no token: every caller gets the error
            _fail_all(taken, exc)
            return
        if response.status >= 400:
            _fail_all(taken, self.client._error_of(response, "$batch"))
            return
        by_id = {str(r.get("id")): r for r in response.json().get("responses", [])}
        for index, item in enumerate(taken):
            results = [_item_response(by_id.get(f"{index}.{step}")) for step in range(len(item.chain))]
            if not item.future.done():
                item.future.set_result(results)


def _parallel_items(taken: list[_Pending]) -> int:
    """How many items of this batch can run at the same time: one per independent chain."""
    return len(taken)


def _fail_all(taken: list[_Pending], error: BaseException) -> None:
    for item in taken:
        if not item.future.done():
            item.future.set_exception(error)


def _item_response(raw: dict[str, Any] | None) -> GraphResponse:
    if raw is None:  # Graph left the step out: treat like a failure that may not have happened
        return GraphResponse(504, {}, {"error": {"code": "missingBatchResponse", "message": "no response"}})
    headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
    body: Any = raw.get("body")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if isinstance(body, str) and "json" not in content_type.lower():
        body = _decoded(body)
    return GraphResponse(int(raw.get("status", 500)), headers, body)


def _decoded(body: str) -> bytes:
    """Graph base64-encodes non-JSON bodies (such as a message's MIME) inside a batch."""
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        return body.encode()


def _parsed_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.content
    return response.content


def _kind(request: GraphRequest) -> str:
    path = request.url.split("?", 1)[0]
    if "/delta" in path:
        return "delta"
    if path.endswith("/$value"):
        return "mime"
    return f"{request.method} {path.rsplit('/', 1)[-1] if '/messages/' in path else path.split('/')[-1]}"


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
