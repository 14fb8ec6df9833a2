"""The Microsoft 365 connector: one or more shared mailboxes read by delta query and acted on through Graph.

Reading: the inbox is followed with `messages/delta` (small `$select`, immutable ids, `odata.maxpagesize`); each
page's new messages are fetched as MIME (`$value`, batched twenty to a request) so the parser sees every header.
The link to resume from is stored once a page's messages are stored, so a restart carries on where it stopped; a
link Graph no longer knows (410, `syncStateNotFound`) starts a clean resync, and the ingest dedupe makes sure no
email is processed twice. Messages already stored, and messages already read (by a person or by EmailBot itself:
its own changes come back through delta), are skipped without being downloaded.

Writing: replies (`reply` with the text as the message body), drafts (`createReply`), categories, flag, read and
move all go through `$batch`. Replies and drafts carry their idempotency key in an `X-EmailBot-Key` header and
are created at most once per key: see `_once`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from emailbot.domain import OutgoingMessage, RawMessage
from emailbot.mail.base import MailboxError
from emailbot.mail.graph.auth import TokenProvider, default_client_state
from emailbot.mail.graph.client import GraphClient, GraphRequest
from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.state import DELTA_KIND, SENDING, GraphState, effect_kind
from emailbot.settings import Settings
from emailbot.store.db import Database

log = logging.getLogger(__name__)

NAME = "graph"
CATEGORY_PREFIX = "EmailBot/"
KEY_HEADER = "X-EmailBot-Key"
"""An Internet header on every reply and draft EmailBot creates, holding the effect's idempotency key."""
DELTA_SELECT = "id,receivedDateTime,isRead,categories,conversationId"
RESYNC_CODES = ("syncStateNotFound", "syncStateInvalid", "resyncRequired")


@dataclass
class _Page:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


class GraphUserMailbox:
    """One shared mailbox: its delta cursor, its outstanding messages, its actions."""

    def __init__(self, client: GraphClient, state: GraphState, address: str, *, page_size: int, move_to: str | None):
        self.client = client
        self.state = state
        self.address = address
        self.page_size = page_size
        self.move_to = move_to
        self._user = f"/users/{quote(address)}"
        self._link: str | None = None
        self._link_loaded = False
        self._handed: dict[str, RawMessage] = {}  # handed to the engine, not acknowledged yet
        self._link_after_ack: str | None = None
        self._round_done = False
        self._categories: dict[str, list[str]] = {}
        self._conversations: dict[str, str] = {}
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.last_sync_at: datetime | None = None
        self.resyncs = 0

    # -- reading -------------------------------------------------------------------------------------------

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
                self.last_sync_at = _now()
                return []

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        for source_id in source_ids:
            self._handed.pop(source_id, None)
        if not self._handed and self._link_after_ack:
            await self.state.put(self.address, DELTA_KIND, self._link_after_ack)
            self._link_after_ack = None
            if self._round_done:
                self.last_sync_at = _now()

    async def resync(self) -> None:
        """Forget the delta link: the next poll reads the whole inbox again (stored emails are skipped)."""
        await self.state.remove(self.address, DELTA_KIND)
        self._link, self._link_loaded, self._round_done = None, True, False
        self.resyncs += 1

    async def _next_page(self) -> _Page:
        if not self._link_loaded:
            self._link = await self.state.get(self.address, DELTA_KIND)
            self._link_loaded = True
            if self._link and not self._link.startswith(self.client.base_url):
                log.warning("graph %s: stored delta link is for another Graph endpoint; resyncing", self.address)
                self._link = None
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
        # Remembered until the message is marked (its last action), to spare a read before the PATCH.
        for item in wanted:
            self._categories[str(item["id"])] = [str(c) for c in item.get("categories") or []]
            if item.get("conversationId"):
                self._conversations[str(item["id"])] = str(item["conversationId"])
        return wanted

    async def _download(self, items: list[dict[str, Any]]) -> list[RawMessage]:
        """Each message's MIME, in batches; a message deleted meanwhile is left out."""

        async def mime(item: dict[str, Any]) -> RawMessage | None:
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

        results = await asyncio.gather(*(mime(item) for item in items))
        return [message for message in results if message is not None]

    # -- writing -------------------------------------------------------------------------------------------

    async def send_reply(self, message_id: str, reply: OutgoingMessage, key: str) -> str:
        async def send() -> str:
            body = {"message": self._reply_message(reply, key)}
            request = GraphRequest("POST", f"{self._message(message_id)}/reply", body)
            await self.client.batched(self.address, [request], idempotent=False, what="send a reply")
            return f"reply:{key}"

        return await self._once(message_id, key, send, draft_ok=False)

    async def save_draft(self, message_id: str, draft: OutgoingMessage, key: str) -> str:
        async def create() -> str:
            body = {"message": self._reply_message(draft, key)}
            request = GraphRequest("POST", f"{self._message(message_id)}/createReply", body)
            [response] = await self.client.batched(self.address, [request], idempotent=False, what="save a draft")
            return str(response.json().get("id", f"draft:{key}"))

        return await self._once(message_id, key, create, draft_ok=True)

    async def mark_handled(self, message_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        """Read, categorized `EmailBot/<category>` next to any category a person set, flagged when asked, moved
        (to `move_to` when given, a folder id or well-known name such as junkemail, else the configured folder)."""
        categories = self._categories.get(message_id)
        if categories is None:  # not seen by this process (a restart): keep what a person set
            try:
                categories = await self._current_categories(message_id)
            except GraphError as error:
                if error.status != 404:
                    raise
                categories = []
        wanted = list(dict.fromkeys([*categories, f"{CATEGORY_PREFIX}{category}"]))
        change: dict[str, Any] = {"isRead": True, "categories": wanted}
        if flagged:
            change["flag"] = {"flagStatus": "flagged"}
        chain = [GraphRequest("PATCH", self._message(message_id), change)]
        destination = move_to or self.move_to
        if destination:
            chain.append(GraphRequest("POST", f"{self._message(message_id)}/move", {"destinationId": destination}))
        try:
            await self.client.batched(self.address, chain, what="mark a message handled")
        except GraphError as error:
            if error.status != 404:
                raise
            log.warning("mark_handled: message %s is no longer in %s", message_id[:40], self.address)
        self._categories.pop(message_id, None)
        self._conversations.pop(message_id, None)

    async def _current_categories(self, message_id: str) -> list[str]:
        request = GraphRequest("GET", f"{self._message(message_id)}?$select=categories")
        [response] = await self.client.batched(self.address, [request], what="read categories")
        return [str(c) for c in response.json().get("categories") or []]

    async def _once(self, message_id: str, key: str, create: Callable[[], Awaitable[str]], *, draft_ok: bool) -> str:
        """Create a reply or draft at most once for `key`, across retries and crashes.

        A marker is stored before the request and replaced by the result after it. A later call that finds the
        result returns it; one that finds `sending` (a crash or an answer that never came) asks Graph for a
        message tagged with the key before trying again. A request that certainly did not go through (a refusal,
        throttling) removes the marker.
        """
        # Two workers of this process on one email (a lease that ran out) take turns: the second sees the result.
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._once_locked(message_id, key, create, draft_ok=draft_ok)
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)

    async def _once_locked(
        self, message_id: str, key: str, create: Callable[[], Awaitable[str]], *, draft_ok: bool
    ) -> str:
        kind = effect_kind(key)
        marker = await self.state.get(self.address, kind)
        if marker and marker.startswith("done:"):
            return marker.removeprefix("done:")
        if marker == SENDING:
            found = await self._tagged(message_id, key)
            if found is not None:
                reference = await self._finish_found(found, draft_ok=draft_ok)
                await self.state.put(self.address, kind, f"done:{reference}")
                return reference
        await self.state.put(self.address, kind, SENDING)
        try:
            reference = await create()
        except GraphError as error:
            if not error.ambiguous:
                await self.state.remove(self.address, kind)
            raise
        await self.state.put(self.address, kind, f"done:{reference}")
        return reference

    async def _tagged(self, message_id: str, key: str) -> dict[str, Any] | None:
        """A reply or draft in the thread of `message_id` (any folder) carrying `key` in its header, or None."""
        conversation = self._conversations.get(message_id)
        if conversation is None:
            request = GraphRequest("GET", f"{self._message(message_id)}?$select=conversationId")
            original = await self.client.call(self.address, request, what="read the thread of a message")
            conversation = str(original.json().get("conversationId", ""))
        escaped = conversation.replace("'", "''")
        url = (
            f"{self._user}/messages?$filter=conversationId eq '{escaped}'"
            "&$select=id,isDraft,internetMessageHeaders&$top=100"
        )
        response = await self.client.call(self.address, GraphRequest("GET", url), what="look for an earlier attempt")
        for message in response.json().get("value") or []:
            headers = message.get("internetMessageHeaders") or []
            if any(h.get("name", "").lower() == KEY_HEADER.lower() and h.get("value") == key for h in headers):
                return dict(message)
        return None

    async def _finish_found(self, found: dict[str, Any], *, draft_ok: bool) -> str:
        """An earlier attempt left `found`: a draft is the result itself, or sent if a reply was wanted."""
        message_id = str(found["id"])
        if found.get("isDraft") and not draft_ok:
            request = GraphRequest("POST", f"{self._message(message_id)}/send")
            await self.client.batched(self.address, [request], idempotent=False, what="send an earlier reply")
        return message_id

    def _reply_message(self, message: OutgoingMessage, key: str) -> dict[str, Any]:
        content_type, content = ("HTML", message.body_html) if message.body_html else ("Text", message.body_text)
        return {
            "toRecipients": [
                {"emailAddress": {"address": a.email, **({"name": a.name} if a.name else {})}} for a in message.to
            ],
            "body": {"contentType": content_type, "content": content},
            "internetMessageHeaders": [{"name": KEY_HEADER, "value": key}],
        }

    def _message(self, message_id: str) -> str:
        return f"{self._user}/messages/{quote(message_id, safe='')}"


class GraphMailboxes:
    """The Mailbox the engine sees: every configured shared mailbox behind one interface.

    A source id is `<mailbox address>:<immutable message id>`, so each action reaches the right mailbox, and each
    mailbox keeps its own delta link and its own request slots.
    """

    name = NAME
    acknowledge_writes_mailbox = False  # acknowledging stores the delta link in EmailBot's database only

    def __init__(self, client: GraphClient, state: GraphState, addresses: Sequence[str], settings: Settings) -> None:
        if not addresses:
            raise MailboxError("EMAILBOT_GRAPH_MAILBOX: no mailbox configured", permanent=True)
        self.client = client
        self.state = state
        self.settings = settings
        self.mailboxes = {
            address: GraphUserMailbox(
                client, state, address, page_size=settings.graph_page_size, move_to=settings.graph_move_to
            )
            for address in addresses
        }
        self.address = addresses[0]
        # Emails acting side by side: their calls share $batch requests, while the client still keeps at most
        # 4 HTTP requests in flight per mailbox.
        self.acting_concurrency = settings.batch_size
        self.client_state = default_client_state(settings)
        self.subscriptions: Any = None  # set by emailbot.mail.graph.subscriptions when notifications are on

    @property
    def tokens(self) -> TokenProvider:
        return self.client.tokens

    async def fetch_new(self, limit: int) -> Sequence[RawMessage]:
        messages: list[RawMessage] = []
        for mailbox in self.mailboxes.values():
            if len(messages) >= limit:
                break
            messages.extend(await mailbox.fetch_new(limit - len(messages)))
        return messages

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        by_mailbox: dict[str, list[str]] = {}
        for source_id in source_ids:
            by_mailbox.setdefault(self._split(source_id)[0].address, []).append(source_id)
        for address, ids in by_mailbox.items():
            await self.mailboxes[address].acknowledge(ids)

    async def send_reply(self, source_id: str, reply: OutgoingMessage, key: str) -> str:
        mailbox, message_id = self._split(source_id)
        return await mailbox.send_reply(message_id, reply, key)

    async def save_draft(self, source_id: str, draft: OutgoingMessage, key: str) -> str:
        mailbox, message_id = self._split(source_id)
        return await mailbox.save_draft(message_id, draft, key)

    async def mark_handled(self, source_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        mailbox, message_id = self._split(source_id)
        await mailbox.mark_handled(message_id, category, flagged=flagged, move_to=move_to)

    async def resync(self, address: str | None = None) -> None:
        for mailbox in self.mailboxes.values():
            if address is None or mailbox.address == address.lower():
                await mailbox.resync()

    async def aclose(self) -> None:
        if self.subscriptions is not None:
            await self.subscriptions.stop()
        await self.client.aclose()

    def _split(self, source_id: str) -> tuple[GraphUserMailbox, str]:
        address, separator, message_id = source_id.partition(":")
        mailbox = self.mailboxes.get(address)
        if not separator or mailbox is None or not message_id:
            raise MailboxError(f"not a message of a configured Graph mailbox: {source_id[:120]!r}", permanent=True)
        return mailbox, message_id


def mailbox_from_settings(settings: Settings, db: Database) -> GraphMailboxes:
    tokens = TokenProvider(settings)
    client = GraphClient(
        settings.graph_base_url,
        tokens,
        ca_bundle=str(settings.graph_ca_bundle) if settings.graph_ca_bundle else None,
        max_concurrency=settings.graph_max_concurrency,
    )
    mailboxes = GraphMailboxes(client, GraphState(db, NAME), settings.graph_mailboxes, settings)
    if settings.graph_notification_url:
        from emailbot.mail.graph.subscriptions import Subscriptions

        mailboxes.subscriptions = Subscriptions(mailboxes, settings.graph_notification_url, settings)
    return mailboxes


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _now() -> datetime:
    from emailbot.store.tables import utcnow

    return utcnow()
