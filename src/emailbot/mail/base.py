"""The Mailbox protocol every connector implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from emailbot.domain import OutgoingMessage, RawMessage


class MailboxError(Exception):
    """A connector failed. `permanent` errors are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailbox(Protocol):
    """A shared mailbox. Every write takes an idempotency key: called twice with one key, it acts once."""

    name: str
    address: str

    async def fetch_new(self, limit: int) -> Sequence[RawMessage]:
        """New messages, oldest first. A message is returned again until it is acknowledged."""
        ...

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        """These messages are safely stored: stop returning them from fetch_new."""
        ...

    async def send_reply(self, source_id: str, reply: OutgoingMessage, key: str) -> str:
        """Send a reply in the thread of `source_id`; returns a reference to the sent message."""
        ...

    async def save_draft(self, source_id: str, draft: OutgoingMessage, key: str) -> str:
        """Save a draft reply for a person to check; returns a reference to the draft."""
        ...

    async def mark_handled(self, source_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        """Mark read and categorized (flagged for a person when asked), so fetch_new stops returning it;
        `move_to` (a folder) moves it there, as for noise with EMAILBOT_NOISE_FOLDER."""
        ...
