"""Reading one shared mailbox: its inbox followed by delta query, new messages downloaded as MIME.

The delta query asks for a small `$select`, immutable ids and `odata.maxpagesize`; each page's new messages are
fetched as MIME (`$value`, batched twenty to a request) so the parser sees every header. The link to resume from is
stored once a page's messages are stored, so a restart carries on where it stopped; a link Graph no longer knows
(410, `syncStateNotFound`) starts a clean resync, and the ingest dedupe makes sure no email is processed twice.
Messages already stored, and messages already read (by a person or by EmailBot itself: its own changes come back
through delta), are skipped without being downloaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from emailbot.domain import RawMessage
from emailbot.mail.graph.client import GraphClient
from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.state import DELTA_KIND, GraphState
from emailbot.mail.graph.wire import GraphRequest
from emailbot.store.tables import utcnow

log = logging.getLogger(__name__)

DELTA_SELECT = "id,receivedDateTime,isRead,categories,conversationId"
RESYNC_CODES = ("syncStateNotFound", "syncStateInvalid", "resyncRequired")


@dataclass
class SeenMessages:
    """What delta told about the messages handed out, kept until each is marked (its last action), to spare a
    read before the PATCH and before looking for an earlier reply in its thread."""

    categories: dict[str, list[str]] = field(default_factory=dict)
    conversations: dict[str, str] = field(default_factory=dict)

    def remember(self, item: dict[str, Any]) -> None:
        self.categories[str(item["id"])] = [str(c) for c in item.get("categories") or []]
        if item.get("conversationId"):
            self.conversations[str(item["id"])] = str(item["conversationId"])

    def forget(self, message_id: str) -> None:
        self.categories.pop(message_id, None)
        self.conversations.pop(message_id, None)


@dataclass
class _Page:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


class InboxSync:
    """One mailbox's delta cursor and the messages handed to the engine but not acknowledged yet."""

    def __init__(self, client: GraphClient, state: GraphState, address: str, *, page_size: int, seen: SeenMessages):
        self.client = client
        self.state = state
        self.address = address
        self.page_size = page_size
        self.seen = seen
        self._user = f"/users/{quote(address)}"
        self._link: str | None = None
        self._link_loaded = False
        self._handed: dict[str, RawMessage] = {}  # handed to the engine, not acknowledged yet
        self._link_after_ack: str | None = None
        self._round_done = False
        self.last_sync_at: datetime | None = None
        self.resyncs = 0

    def source_id(self, message_id: str) -> str:
        return f"{self.address}:{message_id}"

    async def fetch_new(self, limit: int) -> list[RawMessage]:
        if self._handed:  # not acknowledged (the store failed): the same messages again
            return list(self._handed.values())[:limit]
        if self._round_done:  # a poll ends when the delta link is reached; the next poll asks again
            self._round_done = False
            return []
        while True:
            page = await self._next_page()
            follow = page.next_link or page.delta_link
            self._round_done = page.delta_link is not None
            messages = await self._download(await self._wanted(page.items))
            self._link = follow
            if messages:
                self._handed = {m.source_id: m for m in messages}
                self._link_after_ack = follow
                return messages
            if follow:
                await self.state.put(self.address, DELTA_KIND, follow)
            if self._round_done:
                self._round_done = False
                self.last_sync_at = utcnow()
                return []

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        for source_id in source_ids:
            self._handed.pop(source_id, None)
        if not self._handed and self._link_after_ack:
            await self.state.put(self.address, DELTA_KIND, self._link_after_ack)
            self._link_after_ack = None
            if self._round_done:
                self.last_sync_at = utcnow()

    async def resync(self) -> None:
        """Forget the delta link: the next poll reads the whole inbox again (stored emails are skipped)."""
        await self.state.remove(self.address, DELTA_KIND)
        self._link, self._link_loaded, self._round_done = None, True, False
        self.resyncs += 1

    async def _stored_link(self) -> str | None:
        link = await self.state.get(self.address, DELTA_KIND)
        if link and not link.startswith(self.client.base_url):
            log.warning("graph %s: stored delta link is for another Graph endpoint; resyncing", self.address)
            return None
        return link

    async def _next_page(self) -> _Page:
        if not self._link_loaded:
            self._link = await self._stored_link()
            self._link_loaded = True
        url = self._link or f"{self._user}/mailFolders/inbox/messages/delta?$select={DELTA_SELECT}"
        prefer = f'odata.maxpagesize={self.page_size}, IdType="ImmutableId"'
        request = GraphRequest("GET", url, headers={"Prefer": prefer})
        try:
            response = await self.client.call(self.address, request, what=f"delta of {self.address}")
        except GraphError as error:
            if self._link and (error.status == 410 or error.code in RESYNC_CODES):
                log.warning("graph %s: delta link expired (%s); resyncing the inbox", self.address, error.code)
                await self.resync()
                return await self._next_page()
            raise
        body = response.json()
        return _Page(
            items=list(body.get("value") or []),
            next_link=body.get("@odata.nextLink"),
            delta_link=body.get("@odata.deltaLink"),
        )

    async def _wanted(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = [item for item in items if "@removed" not in item and item.get("id") and not item.get("isRead", False)]
        known = await self.state.known_source_ids([self.source_id(str(item["id"])) for item in fresh])
        wanted = [item for item in fresh if self.source_id(str(item["id"])) not in known]
        for item in wanted:
            self.seen.remember(item)
        return wanted

    async def _download(self, items: list[dict[str, Any]]) -> list[RawMessage]:
        """Each message's MIME, in batches; a message deleted meanwhile is left out."""
        results = await asyncio.gather(*(self._mime(item) for item in items))
        return [message for message in results if message is not None]

    async def _mime(self, item: dict[str, Any]) -> RawMessage | None:
        request = GraphRequest("GET", f"{self._user}/messages/{quote(str(item['id']))}/$value")
        try:
            [response] = await self.client.batched(self.address, [request], what="download a message")
        except GraphError as error:
            if error.status == 404:
                return None
            raise
        raw = response.body if isinstance(response.body, bytes) else str(response.body or "").encode()
        received = _parse_time(item.get("receivedDateTime"))
        conversation = str(item["conversationId"]) if item.get("conversationId") else None
        return RawMessage(
            source_id=self.source_id(str(item["id"])), raw=raw, received_at=received, conversation_id=conversation
        )


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
