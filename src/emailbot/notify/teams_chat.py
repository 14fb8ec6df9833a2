"""Escalations as Teams group chats through Microsoft Graph.

For each escalation: resolve the members (the category's escalation members plus the default members) to users
(`GET /users/{upn}`); create a group chat with them as owners and the escalation's name as topic (`POST /chats`,
application permission Chat.Create); then post the context message. Posting needs a user: either the delegated
service account (`emailbot teams login`), which is added to the chat, or a Teams Workflows webhook target, which
gets the chat id in its payload. A member who is not found is left out and reported; the chat goes ahead with the
others, and the webhook notifiers after this one carry the notice too. A follow-up email of the thread is posted
into the same chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import jwt
from sqlalchemy import select

from emailbot.mail.graph.auth import TokenProvider
from emailbot.mail.graph.client import GraphClient, GraphRequest, GraphResponse
from emailbot.mail.graph.errors import GraphError
from emailbot.notify.base import EscalationNotice, NotifyError
from emailbot.notify.deliveries import DELIVERED, FAILED, PARTIAL, AlertsProvider, Closer, Delivery, DeliveryLog
from emailbot.notify.secret_store import SecretStore, encryption_keys
from emailbot.notify.teams_auth import DelegatedTokens
from emailbot.notify.teams_message import context_message, marker
from emailbot.ops.alerts import Alert
from emailbot.settings import Settings
from emailbot.store.db import Database
from emailbot.store.tables import EscalationRow, NotificationDeliveryRow

log = logging.getLogger(__name__)
TEAMS_SLOT = "teams"  # the Graph client's concurrency slot for Teams calls, apart from the mailboxes'
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
RECENT_MESSAGES = 20


@dataclass(frozen=True, slots=True)
class Members:
    user_ids: dict[str, str]  # address -> Entra ID user id
    unknown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChatRef:
    chat_id: str
    web_url: str | None
    members: tuple[str, ...]
    unknown: tuple[str, ...]


class TeamsChatNotifier:
    name = "teams_chat"
    kind = "teams_chat"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        app_graph: GraphClient,
        delegated: tuple[GraphClient, DelegatedTokens] | None,
        deliveries: DeliveryLog,
        alerts: AlertsProvider,
    ) -> None:
        self.settings = settings
        self.db = db
        self.app_graph = app_graph
        self.delegated = delegated
        self.deliveries = deliveries
        self.alerts = alerts

    async def notify(self, notice: EscalationNotice, key: str) -> str:
        earlier = await self.deliveries.delivered(key, self.name)
        if earlier is not None:
            return earlier
        chat: ChatRef | None = None
        if notice.resolution is not None and await self._existing_chat(notice) is None:
            return "no chat"  # nothing to announce the resolution in; a resolved escalation opens no chat
        try:
            chat = await self._chat_for(notice)
            message_id = await self._post(chat, notice, key)
        except (GraphError, NotifyError) as exc:
            await self._failed(key, notice, chat, exc)
            raise NotifyError(f"teams chat: {exc}", permanent=_permanent(exc)) from exc
        details = _details(chat) | {"message_id": message_id, "posted_by": self.settings.teams_post_as}
        status = PARTIAL if chat.unknown else DELIVERED
        delivery = Delivery(status, 1, 201, None, chat.chat_id, details)
        await self.deliveries.record(key, self.name, self.kind, notice.escalation_id, delivery)
        return chat.chat_id

    # -- the chat ----------------------------------------------------------------------------------------------

    async def _existing_chat(self, notice: EscalationNotice) -> ChatRef | None:
        async with self.db.transaction() as session:
            row = await session.get(EscalationRow, notice.escalation_id)
        if row is None or not row.chat_id:
            return None
        unknown = tuple(row.unknown_members)
        return ChatRef(row.chat_id, row.chat_url, tuple(m for m in row.members if m not in unknown), unknown)

    async def _chat_for(self, notice: EscalationNotice) -> ChatRef:
        """The escalation's chat, created on its first notice (a follow-up finds it on the escalation)."""
        existing = await self._existing_chat(notice)
        if existing is not None:
            return existing
        members = await self.resolve_members(notice.members)
        if members.unknown:
            await self._report_unknown(notice, members.unknown)
        chat = await self._create_chat(notice.name, members)
        async with self.db.transaction() as session:
            row = await session.get(EscalationRow, notice.escalation_id)
            if row is not None:
                row.chat_id, row.chat_url, row.notifier = chat.chat_id, chat.web_url, self.name
                row.unknown_members = list(members.unknown)
        return chat

    async def resolve_members(self, addresses: tuple[str, ...]) -> Members:
        found: dict[str, str] = {}
        unknown: list[str] = []
        for address in dict.fromkeys(a.strip() for a in addresses if a.strip()):
            user = await self.find_user(address)
            if user is None:
                unknown.append(address)
            else:
                found[address] = str(user["id"])
        return Members(found, tuple(unknown))

    async def find_user(self, address: str) -> dict[str, Any] | None:
        url = f"/users/{quote(address, safe='@')}?$select=id,displayName,userPrincipalName,mail"
        try:
            response = await self.app_graph.call(TEAMS_SLOT, GraphRequest("GET", url), what=f"look up {address}")
        except GraphError as exc:
            if exc.status in (400, 404):  # 400: not a valid user principal name
                return None
            raise
        return response.json()

    async def _create_chat(self, topic: str, members: Members) -> ChatRef:
        user_ids = dict(members.user_ids)
        if self.delegated is not None:
            # The service account posts the messages, so it must be in the chat.
            account = await self.service_account_id()
            user_ids.setdefault(self.settings.teams_delegated_account or "service account", account)
        ids = list(dict.fromkeys(user_ids.values()))
        if not members.user_ids:
            raise NotifyError(f"none of the escalation members was found: {', '.join(members.unknown)}", permanent=True)
        if len(ids) < 2:
            raise NotifyError("a group chat needs at least two members; add escalation members", permanent=True)
        response = await self.app_graph.call(
            TEAMS_SLOT, chat_request(topic, ids, self.settings.graph_base_url), idempotent=False, what="create chat"
        )
        body = response.json()
        return ChatRef(str(body["id"]), body.get("webUrl"), tuple(members.user_ids), members.unknown)

    async def service_account_id(self) -> str:
        assert self.delegated is not None
        token = await self.delegated[1].token()
        claims = jwt.decode(token.access_token, options={"verify_signature": False})
        return str(claims.get("oid") or claims.get("sub"))

    # -- the message -------------------------------------------------------------------------------------------

    async def _post(self, chat: ChatRef, notice: EscalationNotice, key: str) -> str | None:
        if self.delegated is None:
            return None  # the Teams Workflows webhook posts the card into the chat
        if await self._tried_before(key):
            posted = await self._find_posted(self.delegated[0], chat.chat_id, notice)
            if posted is not None:
                return posted
        return await self.post_message(chat.chat_id, notice, chat.unknown)

    async def post_message(self, chat_id: str, notice: EscalationNotice, unknown: tuple[str, ...] = ()) -> str:
        if self.delegated is None:
            raise NotifyError("no delegated service account is configured to post messages", permanent=True)
        request = GraphRequest(
            "POST",
            f"/chats/{quote(chat_id, safe='')}/messages",
            {"body": {"contentType": "html", "content": context_message(notice, unknown)}},
        )
        response = await self.delegated[0].call(TEAMS_SLOT, request, idempotent=False, what="post the message")
        return str(response.json().get("id", ""))

    async def _tried_before(self, key: str) -> bool:
        async with self.db.transaction() as session:
            status = await session.scalar(
                select(NotificationDeliveryRow.status).where(
                    NotificationDeliveryRow.idempotency_key == key, NotificationDeliveryRow.target == self.name
                )
            )
        return status is not None

    async def _find_posted(self, graph: GraphClient, chat_id: str, notice: EscalationNotice) -> str | None:
        """After an uncertain earlier attempt: the message, if it did arrive (found by its marker line)."""
        url = f"/chats/{quote(chat_id, safe='')}/messages?$top={RECENT_MESSAGES}"
        response: GraphResponse = await graph.call(TEAMS_SLOT, GraphRequest("GET", url), what="list chat messages")
        for message in response.json().get("value", []):
            if marker(notice) in str((message.get("body") or {}).get("content", "")):
                return str(message.get("id"))
        return None

    # -- reporting ---------------------------------------------------------------------------------------------

    async def _report_unknown(self, notice: EscalationNotice, unknown: tuple[str, ...]) -> None:
        log.warning("escalation %s: members not found in the directory: %s", notice.escalation_id, ", ".join(unknown))
        alert = Alert(
            "warning",
            "escalations",
            f"escalation members not found: {', '.join(sorted(unknown))}",
            {"escalation_id": notice.escalation_id, "unknown_members": list(unknown)},
        )
        await self.alerts().raise_alert(alert)

    async def _failed(self, key: str, notice: EscalationNotice, chat: ChatRef | None, error: Exception) -> None:
        status = error.status if isinstance(error, GraphError) and error.status else None
        recorded = _details(chat) if chat else {}
        delivery = Delivery(FAILED, 1, status, str(error)[:2000], chat.chat_id if chat else None, recorded)
        await self.deliveries.record(key, self.name, self.kind, notice.escalation_id, delivery)
        if _permanent(error):
            details = {"escalation_id": notice.escalation_id, "error": str(error)[:500]}
            alert = Alert("warning", "escalations", "Teams chat escalation failed", details)
            await self.alerts().raise_alert(alert)


def chat_request(topic: str, user_ids: list[str], base_url: str) -> GraphRequest:
    members = [
        {
            "@odata.type": MEMBER_TYPE,
            "roles": ["owner"],
            "user@odata.bind": f"{base_url.rstrip('/')}/users('{user_id}')",
        }
        for user_id in user_ids
    ]
    return GraphRequest("POST", "/chats", {"chatType": "group", "topic": topic[:250], "members": members})


def _details(chat: ChatRef) -> dict[str, Any]:
    return {
        "chat_id": chat.chat_id,
        "chat_url": chat.web_url,
        "members": list(chat.members),
        "unknown_members": list(chat.unknown),
    }


def _permanent(error: Exception) -> bool:
    return bool(getattr(error, "permanent", False))


def build_teams_chat_notifier(
    settings: Settings, db: Database, deliveries: DeliveryLog, alerts: AlertsProvider, closers: list[Closer]
) -> TeamsChatNotifier:
    ca_bundle = str(settings.graph_ca_bundle) if settings.graph_ca_bundle else None
    app_graph = GraphClient(settings.graph_base_url, TokenProvider(settings), ca_bundle=ca_bundle)
    closers.append(app_graph)
    delegated = None
    if settings.teams_post_as == "delegated":
        tokens = DelegatedTokens(settings, SecretStore(db, encryption_keys(settings)))
        # The Graph client only asks its token source for `token()`; delegated tokens answer it like app tokens.
        delegated_graph = GraphClient(settings.graph_base_url, cast(TokenProvider, tokens), ca_bundle=ca_bundle)
        closers.append(delegated_graph)
        delegated = (delegated_graph, tokens)
    return TeamsChatNotifier(settings, db, app_graph, delegated, deliveries, alerts)
