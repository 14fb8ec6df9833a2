"""Shadow mode's mailbox: reads like the real one and never writes to it.

Every write of the Mailbox protocol is refused, and `acknowledge` (which for the Maildir moves a message from new/
to cur/, Maildir's "seen") is kept in memory instead, unless the connector says acknowledging writes nothing to
the mailbox (Graph keeps only its delta link): the messages it names are left out of later fetches. After a
restart they are fetched once more and the ingest's dedupe absorbs them.
"""

from __future__ import annotations

from collections.abc import Sequence

from emailbot.domain import OutgoingMessage, RawMessage
from emailbot.mail.base import Mailbox, MailboxError


class ShadowMailbox:
    def __init__(self, inner: Mailbox) -> None:
        self.inner = inner
        self.name = inner.name
        self.address = inner.address
        self._seen: set[str] = set()

    async def fetch_new(self, limit: int) -> Sequence[RawMessage]:
        """New messages not acknowledged in this process. A connector that hands out the same unacknowledged
        messages round after round is asked until a round brings something unseen or every seen message could
        have come back once."""
        rounds = len(self._seen) // max(limit, 1) + 2
        for _ in range(rounds):
            batch = await self.inner.fetch_new(limit)
            fresh = [message for message in batch if message.source_id not in self._seen]
            if fresh or not batch:
                return fresh
        return []

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        self._seen.update(source_ids)
        if not getattr(self.inner, "acknowledge_writes_mailbox", True):  # e.g. Graph: only its delta link is stored
            await self.inner.acknowledge(source_ids)

    async def send_reply(self, source_id: str, reply: OutgoingMessage, key: str) -> str:
        raise MailboxError("shadow mode: replies are not sent", permanent=True)

    async def save_draft(self, source_id: str, draft: OutgoingMessage, key: str) -> str:
        raise MailboxError("shadow mode: drafts are not saved", permanent=True)

    async def mark_handled(self, source_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        raise MailboxError("shadow mode: messages are not marked", permanent=True)

    def __getattr__(self, name: str) -> object:
        """Health, validation and closing are the real connector's."""
        return getattr(self.inner, name)
