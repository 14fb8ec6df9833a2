"""JSON batching: calls made within `BATCH_LINGER_SECONDS` of each other for one mailbox share a `$batch` request
of up to 20 items. A batch is only filled once it holds its mailbox slots, so while the slots are busy the next
batch fills up; each caller's chain of steps runs in order (`dependsOn`) and gets its own items' responses back.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.slots import MailboxSlot
from emailbot.mail.graph.wire import GraphRequest, GraphResponse, never_sent

MAX_BATCH = 20
BATCH_LINGER_SECONDS = 0.2
BATCH_PARALLELISM = 4
"""How many items of one `$batch` Graph runs at once, each counting against the mailbox's concurrency limit."""


class BatchTransport(Protocol):
    """What a batch queue needs from the client: slots, one HTTP exchange, and Graph's error for a response."""

    def slot(self, mailbox: str, weight: int = 1) -> MailboxSlot: ...

    async def exchange(self, request: GraphRequest, *, kind: str) -> GraphResponse: ...

    def error_of(self, response: GraphResponse, what: str) -> GraphError: ...


@dataclass
class _Pending:
    chain: list[GraphRequest]
    future: asyncio.Future[list[GraphResponse]]


class BatchQueue:
    """Calls waiting to go out in a `$batch` request for one mailbox."""

    def __init__(self, transport: BatchTransport, mailbox: str) -> None:
        self.transport = transport
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
        async with self.transport.slot(self.mailbox, weight=BATCH_PARALLELISM) as slot:
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
        envelope = GraphRequest("POST", "/$batch", {"requests": batch_items([item.chain for item in taken])})
        try:
            response = await self.transport.exchange(envelope, kind="$batch")
        except httpx.TransportError as exc:
            error = GraphError(f"$batch: {type(exc).__name__}: {exc}", ambiguous=not never_sent(exc))
            _fail_all(taken, error)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. no token: every caller gets the error
            _fail_all(taken, exc)
            return
        if response.status >= 400:
            _fail_all(taken, self.transport.error_of(response, "$batch"))
            return
        by_id = {str(r.get("id")): r for r in response.json().get("responses", [])}
        for index, item in enumerate(taken):
            results = [_item_response(by_id.get(f"{index}.{step}")) for step in range(len(item.chain))]
            if not item.future.done():
                item.future.set_result(results)


def batch_items(chains: list[list[GraphRequest]]) -> list[dict[str, Any]]:
    """The `requests` of a `$batch` body: item `i.s` is step `s` of chain `i`, depending on the step before it."""
    requests: list[dict[str, Any]] = []
    for index, chain in enumerate(chains):
        for step, request in enumerate(chain):
            entry: dict[str, Any] = {"id": f"{index}.{step}", "method": request.method, "url": request.url}
            if request.body is not None:
                entry["body"] = request.body
                entry["headers"] = {"Content-Type": "application/json", **request.headers}
            elif request.headers:
                entry["headers"] = dict(request.headers)
            if step:
                entry["dependsOn"] = [f"{index}.{step - 1}"]
            requests.append(entry)
    return requests


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
