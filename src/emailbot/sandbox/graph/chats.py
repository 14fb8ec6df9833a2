"""Teams chats: create a group chat with members, list/add members, post and list messages.

As on Graph, an application token may create chats (Chat.Create) but posting a message needs a delegated token:
an app-only POST to /chats/{id}/messages is refused with 401 ("allowed ... only for import purposes").
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, Router, ok
from emailbot.sandbox.state import Chat, ChatMember, ChatMessage, User
from emailbot.sandbox.state.tenant import graph_time, utcnow

CREATE = ("Chat.Create", "Chat.ReadWrite.All", "Chat.ReadWrite")
READ_CHAT = (
    "Chat.ReadBasic.All",
    "Chat.Read.All",
    "Chat.ReadWrite.All",
    "Chat.ReadBasic",
    "Chat.Read",
    "Chat.ReadWrite",
)
READ_MEMBERS = (
    "ChatMember.Read.All",
    "ChatMember.ReadWrite.All",
    "ChatMember.Read",
    "ChatMember.ReadWrite",
    *READ_CHAT,
)
ADD_MEMBERS = ("ChatMember.ReadWrite.All", "Chat.ReadWrite.All", "ChatMember.ReadWrite", "Chat.ReadWrite")
SEND_MESSAGE = ("ChatMessage.Send", "Chat.ReadWrite")
READ_MESSAGES = ("Chat.Read.All", "Chat.ReadWrite.All", "Chat.Read", "Chat.ReadWrite")
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
_BIND = re.compile(r"users(?:\('([^']+)'\)|/([^/?]+))\s*$", re.IGNORECASE)


def register(router: Router) -> None:
    router.add("POST", "/chats", create_chat, CREATE, denied_code="Forbidden")
    router.add("GET", "/chats/{chat}", get_chat, READ_CHAT, denied_code="Forbidden")
    router.add("GET", "/chats/{chat}/members", list_members, READ_MEMBERS, denied_code="Forbidden")
    router.add("POST", "/chats/{chat}/members", add_member, ADD_MEMBERS, denied_code="Forbidden")
    router.add("POST", "/chats/{chat}/messages", post_message, (), denied_code="Forbidden")
    router.add("GET", "/chats/{chat}/messages", list_messages, READ_MESSAGES, denied_code="Forbidden")


async def create_chat(ctx: Context) -> GraphResponse:
    payload = ctx.request.json()
    if not isinstance(payload, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    chat_type = payload.get("chatType")
    if chat_type not in ("group", "oneOnOne"):
        raise GraphError(400, "BadRequest", "chatType must be 'group' or 'oneOnOne'.")
    raw_members = payload.get("members")
    if not isinstance(raw_members, list) or not raw_members:
        raise GraphError(400, "BadRequest", "A chat needs members.")
    members = [_member(ctx, m) for m in raw_members]
    user_ids = [m.user_id for m in members]
    if len(set(user_ids)) != len(user_ids):
        raise GraphError(400, "BadRequest", "A user is listed twice in members.")
    if chat_type == "oneOnOne" and len(members) != 2:
        raise GraphError(400, "BadRequest", "A oneOnOne chat has exactly two members.")
    if chat_type == "group" and len(members) < 2:
        raise GraphError(400, "BadRequest", "A group chat needs at least two members.")
    if ctx.token.is_delegated and ctx.token.user_id not in user_ids:
        raise GraphError(400, "BadRequest", "The signed-in user must be one of the chat's members.")
    topic = payload.get("topic")
    if topic is not None and (not isinstance(topic, str) or chat_type == "oneOnOne"):
        raise GraphError(400, "BadRequest", "topic is a string, and only group chats have one.")
    chat = Chat(
        id=f"19:{uuid.uuid4().hex}@thread.v2",
        chat_type=chat_type,
        topic=topic,
        created=utcnow(),
        created_by_app=None if ctx.token.is_delegated else ctx.token.app_id,
        members=members,
    )
    with ctx.state.lock:
        ctx.state.chats[chat.id] = chat
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#chats/$entity", **chat_json(ctx, chat)}
    return ok(body, 201)


async def get_chat(ctx: Context) -> GraphResponse:
    return ok(chat_json(ctx, _chat(ctx)))


async def list_members(ctx: Context) -> GraphResponse:
    chat = _chat(ctx)
    with ctx.state.lock:
        values = [member_json(ctx, m) for m in chat.members]
    return ok(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#chats('{chat.id}')/members",
            "@odata.count": len(values),
            "value": values,
        }
    )


async def add_member(ctx: Context) -> GraphResponse:
    chat = _chat(ctx)
    if chat.chat_type == "oneOnOne":
        raise GraphError(400, "BadRequest", "Members cannot be added to a oneOnOne chat.")
    member = _member(ctx, ctx.request.json())
    with ctx.state.lock:
        if any(m.user_id == member.user_id for m in chat.members):
            raise GraphError(409, "Conflict", "The user is already a member of the chat.")
        chat.members.append(member)
    return ok(member_json(ctx, member), 201)


async def post_message(ctx: Context) -> GraphResponse:
    if not ctx.token.is_delegated:
        raise GraphError(
            401,
            "Unauthorized",
            "Message POST is allowed in application-only context only for import purposes. Refer to "
            "https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/"
            "import-external-messages-to-teams "
            "for more details.",
        )
    if not ctx.token.grants(SEND_MESSAGE):
        raise GraphError(
            403,
            "Forbidden",
            f"Missing scope permissions on the request. API requires one of '{', '.join(SEND_MESSAGE)}'.",
        )
    chat = _chat(ctx)
    payload = ctx.request.json()
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("content"), str) or not body["content"]:
        raise GraphError(400, "BadRequest", "The message needs a body with content.")
    content_type = "html" if str(body.get("contentType", "text")).lower() == "html" else "text"
    message = ChatMessage(
        id=str(int(utcnow().timestamp() * 1000) * 1000 + secrets.randbelow(1000)),
        sender_user_id=ctx.token.user_id or "",
        content_type=content_type,
        content=body["content"],
        created=utcnow(),
    )
    with ctx.state.lock:
        chat.messages.append(message)
    return ok(message_json(ctx, chat, message), 201)


async def list_messages(ctx: Context) -> GraphResponse:
    chat = _chat(ctx)
    with ctx.state.lock:
        values = [message_json(ctx, chat, m) for m in reversed(chat.messages)]
    return ok(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#chats('{chat.id}')/messages",
            "@odata.count": len(values),
            "value": values,
        }
    )


def _chat(ctx: Context) -> Chat:
    chat = ctx.state.chats.get(ctx.params["chat"])
    if chat is None:
        raise GraphError(404, "NotFound", f"Chat '{ctx.params['chat']}' was not found.")
    if ctx.token.is_delegated and all(m.user_id != ctx.token.user_id for m in chat.members):
        raise GraphError(403, "Forbidden", "The signed-in user is not a member of this chat.")
    return chat


def _member(ctx: Context, raw: Any) -> ChatMember:
    if not isinstance(raw, dict) or raw.get("@odata.type") != MEMBER_TYPE:
        raise GraphError(400, "BadRequest", f'Each member needs "@odata.type": "{MEMBER_TYPE}".')
    bind = raw.get("user@odata.bind")
    match = _BIND.search(bind) if isinstance(bind, str) else None
    if match is None:
        raise GraphError(
            400, "BadRequest", "Each member needs user@odata.bind like https://graph.microsoft.com/v1.0/users('{id}')."
        )
    key = match.group(1) or match.group(2)
    user = ctx.state.find_user(key)
    if user is None:
        raise GraphError(404, "NotFound", f"User '{key}' was not found in the tenant.")
    roles = raw.get("roles", [])
    if not isinstance(roles, list) or any(r not in ("owner", "guest") for r in roles):
        raise GraphError(400, "BadRequest", "roles may contain 'owner' or 'guest'.")
    return ChatMember(id=_member_id(user), user_id=user.id, roles=list(roles), added=utcnow())


def _member_id(user: User) -> str:
    return base64.b64encode(f"MCMjMSMjZmU{user.id}".encode()).decode()


def chat_json(ctx: Context, chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "topic": chat.topic,
        "createdDateTime": graph_time(chat.created),
        "lastUpdatedDateTime": graph_time(chat.messages[-1].created if chat.messages else chat.created),
        "chatType": chat.chat_type,
        "webUrl": f"https://teams.microsoft.com/l/chat/{chat.id}/0?tenantId={ctx.state.config.tenant_id}",
        "tenantId": ctx.state.config.tenant_id,
        "onlineMeetingInfo": None,
        "viewpoint": None,
    }


def member_json(ctx: Context, member: ChatMember) -> dict[str, Any]:
    user = ctx.state.users.get(member.user_id)
    return {
        "@odata.type": MEMBER_TYPE,
        "id": member.id,
        "roles": list(member.roles),
        "displayName": user.display_name if user else None,
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": member.user_id,
        "email": user.mail if user else None,
        "tenantId": ctx.state.config.tenant_id,
    }


def message_json(ctx: Context, chat: Chat, message: ChatMessage) -> dict[str, Any]:
    user = ctx.state.users.get(message.sender_user_id)
    return {
        "id": message.id,
        "replyToId": None,
        "etag": message.id,
        "messageType": "message",
        "createdDateTime": graph_time(message.created),
        "lastModifiedDateTime": graph_time(message.created),
        "deletedDateTime": None,
        "subject": None,
        "summary": None,
        "chatId": chat.id,
        "importance": "normal",
        "locale": "en-us",
        "webUrl": None,
        "channelIdentity": None,
        "from": {
            "application": None,
            "device": None,
            "user": {
                "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                "id": message.sender_user_id,
                "displayName": user.display_name if user else None,
                "userIdentityType": "aadUser",
                "tenantId": ctx.state.config.tenant_id,
            },
        },
        "body": {"contentType": message.content_type, "content": message.content},
        "attachments": [],
        "mentions": [],
        "reactions": [],
    }
