"""Acting on one shared mailbox's messages: replies (`reply` with the text as the message body), drafts
(`createReply`), and marking a message handled (read, categorized, flagged, moved), all through `$batch`.

Replies and drafts carry their idempotency key in an `X-EmailBot-Key` header and are created at most once per key:
see `MessageActions._once`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from emailbot.domain import OutgoingMessage
from emailbot.mail.graph.client import GraphClient
from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.inbox import SeenMessages
from emailbot.mail.graph.state import SENDING, GraphState, effect_kind
from emailbot.mail.graph.wire import GraphRequest

log = logging.getLogger(__name__)

CATEGORY_PREFIX = "EmailBot/"
KEY_HEADER = "X-EmailBot-Key"
"""An Internet header on every reply and draft EmailBot creates, holding the effect's idempotency key."""


class MessageActions:
    def __init__(
        self, client: GraphClient, state: GraphState, address: str, *, move_to: str | None, seen: SeenMessages
    ) -> None:
        self.client = client
        self.state = state
        self.address = address
        self.move_to = move_to
        self.seen = seen
        self._user = f"/users/{quote(address)}"
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}

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
        categories = await self._known_categories(message_id)
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
        self.seen.forget(message_id)

    async def _known_categories(self, message_id: str) -> list[str]:
        categories = self.seen.categories.get(message_id)
        if categories is not None:
            return categories
        # Not seen by this process (a restart): keep what a person set.
        request = GraphRequest("GET", f"{self._message(message_id)}?$select=categories")
        try:
            [response] = await self.client.batched(self.address, [request], what="read categories")
        except GraphError as error:
            if error.status != 404:
                raise
            return []
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
        conversation = self.seen.conversations.get(message_id)
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
