"""The admin API's Teams chats and change-notification subscriptions (with lifecycle events on demand)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emailbot.sandbox.admin.context import Admin
from emailbot.sandbox.state import Chat, SandboxState
from emailbot.sandbox.state.tenant import graph_time


def chat_summary(state: SandboxState, chat: Chat) -> dict[str, Any]:
    def user_name(user_id: str) -> str | None:
        user = state.users.get(user_id)
        return user.user_principal_name if user else None

    return {
        "id": chat.id,
        "chatType": chat.chat_type,
        "topic": chat.topic,
        "createdDateTime": graph_time(chat.created),
        "createdByApp": chat.created_by_app,
        "members": [{"userId": m.user_id, "user": user_name(m.user_id), "roles": m.roles} for m in chat.members],
        "messages": [
            {
                "id": m.id,
                "from": user_name(m.sender_user_id),
                "contentType": m.content_type,
                "content": m.content,
                "createdDateTime": graph_time(m.created),
            }
            for m in chat.messages
        ],
    }


async def chats(admin: Admin, request: Request) -> Response:
    state = admin.state
    with state.lock:
        return JSONResponse({"value": [chat_summary(state, c) for c in state.chats.values()]})


async def subscriptions(admin: Admin, request: Request) -> Response:
    state = admin.state
    with state.lock:
        return JSONResponse(
            {"value": [{**s.as_graph(), "deliveries": s.deliveries} for s in state.subscriptions.values()]}
        )


async def lifecycle(admin: Admin, request: Request) -> Response:
    notifier = admin.notifier
    payload = await request.json()
    notifier.lifecycle(request.path_params["subscription"], str(payload["event"]))
    return JSONResponse({"sent": payload["event"]}, status_code=202)
