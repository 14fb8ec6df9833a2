"""The Microsoft 365 connector: one or more shared mailboxes read by delta query (`inbox.py`) and acted on through
Graph (`actions.py`), behind the one Mailbox interface the engine sees. `connector.py` assembles it from settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from emailbot.domain import OutgoingMessage, RawMessage
from emailbot.mail.base import MailboxError
from emailbot.mail.graph.actions import MessageActions
from emailbot.mail.graph.auth import TokenProvider, default_client_state
from emailbot.mail.graph.client import GraphClient
from emailbot.mail.graph.inbox import InboxSync, SeenMessages
from emailbot.mail.graph.state import GraphState
from emailbot.settings import Settings

if TYPE_CHECKING:
    from emailbot.mail.graph.subscriptions import Subscriptions

NAME = "graph"


class GraphUserMailbox:
    """One shared mailbox: its inbox sync and its message actions, sharing what delta told about each message."""

    def __init__(self, client: GraphClient, state: GraphState, address: str, *, page_size: int, move_to: str | None):
        self.client = client
        self.state = state
        self.address = address
        seen = SeenMessages()
        self.inbox = InboxSync(client, state, address, page_size=page_size, seen=seen)
        self.actions = MessageActions(client, state, address, move_to=move_to, seen=seen)

    @property
    def last_sync_at(self) -> datetime | None:
        return self.inbox.last_sync_at

    @property
    def resyncs(self) -> int:
        return self.inbox.resyncs

    async def resync(self) -> None:
        await self.inbox.resync()


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
        self.subscriptions: Subscriptions | None = None  # set by the connector when notifications are on

    @property
    def tokens(self) -> TokenProvider:
        return self.client.tokens

    async def fetch_new(self, limit: int) -> Sequence[RawMessage]:
        messages: list[RawMessage] = []
        for mailbox in self.mailboxes.values():
            if len(messages) >= limit:
                break
            messages.extend(await mailbox.inbox.fetch_new(limit - len(messages)))
        return messages

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        by_mailbox: dict[str, list[str]] = {}
        for source_id in source_ids:
            by_mailbox.setdefault(self._split(source_id)[0].address, []).append(source_id)
        for address, ids in by_mailbox.items():
            await self.mailboxes[address].inbox.acknowledge(ids)

    async def send_reply(self, source_id: str, reply: OutgoingMessage, key: str) -> str:
        mailbox, message_id = self._split(source_id)
        return await mailbox.actions.send_reply(message_id, reply, key)

    async def save_draft(self, source_id: str, draft: OutgoingMessage, key: str) -> str:
        mailbox, message_id = self._split(source_id)
        return await mailbox.actions.save_draft(message_id, draft, key)

    async def mark_handled(self, source_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        mailbox, message_id = self._split(source_id)
        await mailbox.actions.mark_handled(message_id, category, flagged=flagged, move_to=move_to)

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
