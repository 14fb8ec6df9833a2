"""The admin API's mail: deliver or seed messages, list a folder, read a raw message, see everything sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emailbot.sandbox.admin.context import Admin
from emailbot.sandbox.graph.render import message_json
from emailbot.sandbox.state import MailMessage


def message_summary(message: MailMessage) -> dict[str, Any]:
    """A message as the admin API shows it: Graph's JSON (immutable id) plus the regular id and folder name."""
    return {
        **message_json(message, select=None, immutable_ids=True, body_as_text=False),
        "restId": message.rest_id,
        "immutableId": message.immutable_id,
        "uniqueBody": {"contentType": "html", "content": message.unique_body} if message.unique_body else None,
    }


async def folder_messages(admin: Admin, request: Request) -> Response:
    state = admin.state
    mailbox = request.query_params.get("mailbox")
    messages = state.messages_in(request.path_params["folder"], mailbox=mailbox)
    with state.lock:
        return JSONResponse({"value": [message_summary(m) for m in messages]})


async def raw(admin: Admin, request: Request) -> Response:
    state = admin.state
    message = state.message(request.path_params["message"], mailbox=request.query_params.get("mailbox"))
    return Response(message.raw, media_type="message/rfc822")


async def deliver(admin: Admin, request: Request) -> Response:
    state = admin.state
    body = await request.body()
    if not body.strip():
        raise ValueError("the body must be a raw RFC 822 message")
    folder = request.query_params.get("folder", "inbox")
    message_id = state.deliver(body, mailbox=request.query_params.get("mailbox"), folder=folder)
    return JSONResponse({"id": message_id}, status_code=201)


async def seed(admin: Admin, request: Request) -> Response:
    state = admin.state
    payload = await request.json()
    ids = state.seed(Path(str(payload["path"])), mailbox=payload.get("mailbox"))
    return JSONResponse({"delivered": len(ids), "ids": ids}, status_code=201)


async def outgoing(admin: Admin, request: Request) -> Response:
    state = admin.state
    with state.lock:
        return JSONResponse({"value": list(state.outgoing)})
