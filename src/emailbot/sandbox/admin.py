"""The sandbox's own admin API under `/_sandbox/`: inspect state, deliver mail, inject faults, approve sign-ins.

It needs no token (the sandbox listens on loopback only) and answers JSON; errors are `{"error": "..."}` with 4xx.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from emailbot.sandbox.entra import form_fields
from emailbot.sandbox.render import message_json
from emailbot.sandbox.state import Chat, MailMessage, SandboxState, graph_time
from emailbot.sandbox.subscriptions import Notifier

Endpoint = Callable[[Request], Awaitable[Response]]


def message_summary(message: MailMessage) -> dict[str, Any]:
    """A message as the admin API shows it: Graph's JSON (immutable id) plus the regular id and folder name."""
    return {
        **message_json(message, select=None, immutable_ids=True, body_as_text=False),
        "restId": message.rest_id,
        "immutableId": message.immutable_id,
        "uniqueBody": {"contentType": "html", "content": message.unique_body} if message.unique_body else None,
    }


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


def admin_routes(state: SandboxState, notifier: Notifier) -> list[Route]:
    def guarded(endpoint: Endpoint) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            try:
                return await endpoint(request)
            except (KeyError, ValueError, TypeError) as exc:
                return JSONResponse(
                    {"error": str(exc).strip("'\"")}, status_code=400 if not isinstance(exc, KeyError) else 404
                )

        return wrapper

    async def summary(request: Request) -> Response:
        with state.lock:
            mailboxes = {
                user.mail: {
                    folder.well_known_name or folder.id: sum(
                        1 for m in user.messages.values() if m.folder_id == folder.id
                    )
                    for folder in user.folders.values()
                }
                for user in state.users.values()
            }
            return JSONResponse(
                {
                    "tenant_id": state.config.tenant_id,
                    "client_id": state.config.client_id,
                    "mailbox": state.config.mailbox,
                    "mailboxes": mailboxes,
                    "chats": len(state.chats),
                    "subscriptions": len(state.subscriptions),
                    "graph_requests": state.request_total(),
                    "faults": state.faults.as_json(),
                }
            )

    async def folder_messages(request: Request) -> Response:
        mailbox = request.query_params.get("mailbox")
        messages = state.messages_in(request.path_params["folder"], mailbox=mailbox)
        with state.lock:
            return JSONResponse({"value": [message_summary(m) for m in messages]})

    async def raw(request: Request) -> Response:
        message = state.message(request.path_params["message"], mailbox=request.query_params.get("mailbox"))
        return Response(message.raw, media_type="message/rfc822")

    async def deliver(request: Request) -> Response:
        body = await request.body()
        if not body.strip():
            raise ValueError("the body must be a raw RFC 822 message")
        folder = request.query_params.get("folder", "inbox")
        message_id = state.deliver(body, mailbox=request.query_params.get("mailbox"), folder=folder)
        return JSONResponse({"id": message_id}, status_code=201)

    async def seed(request: Request) -> Response:
        payload = await request.json()
        ids = state.seed(Path(str(payload["path"])), mailbox=payload.get("mailbox"))
        return JSONResponse({"delivered": len(ids), "ids": ids}, status_code=201)

    async def outgoing(request: Request) -> Response:
        with state.lock:
            return JSONResponse({"value": list(state.outgoing)})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            state.set_faults(**(await request.json()))
        elif request.method == "DELETE":
            state.clear_faults()
        return JSONResponse(state.faults.as_json())

    async def expire_tokens(request: Request) -> Response:
        state.expire_all_tokens()
        return JSONResponse({"expired_before": state.expired_tokens_before})

    async def expire_delta(request: Request) -> Response:
        state.expire_delta_tokens()
        return JSONResponse({"expired": True})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            state.reset_request_log()
        with state.lock:
            log = [e.as_json() for e in state.request_log[-int(request.query_params.get("last", "200")) :]]
        return JSONResponse(
            {
                "total": state.request_total(),
                "by_route": dict(state.request_counts()),
                "by_route_including_batch_items": dict(state.request_counts(include_batch_items=True)),
                "token_requests": dict(state.token_requests),
                "peak_concurrency": state.peak_concurrency(),
                "log": log,
            }
        )

    async def chats(request: Request) -> Response:
        with state.lock:
            return JSONResponse({"value": [chat_summary(state, c) for c in state.chats.values()]})

    async def subscriptions(request: Request) -> Response:
        with state.lock:
            return JSONResponse(
                {"value": [{**s.as_graph(), "deliveries": s.deliveries} for s in state.subscriptions.values()]}
            )

    async def lifecycle(request: Request) -> Response:
        payload = await request.json()
        notifier.lifecycle(request.path_params["subscription"], str(payload["event"]))
        return JSONResponse({"sent": payload["event"]}, status_code=202)

    async def users(request: Request) -> Response:
        if request.method == "POST":
            payload = await request.json()
            user = state.add_user(
                str(payload["address"]),
                display_name=payload.get("displayName"),
                mailbox_enabled=bool(payload.get("mailboxEnabled", True)),
            )
            if "mailboxEnabled" in payload:
                state.set_mailbox_enabled(user.mail, enabled=bool(payload["mailboxEnabled"]))
        with state.lock:
            return JSONResponse(
                {"value": [{**u.as_graph(), "mailboxEnabled": u.mailbox_enabled} for u in state.users.values()]}
            )

    async def app_permissions(request: Request) -> Response:
        if request.method == "PUT":
            payload = await request.json()
            state.set_app_permissions([str(p) for p in payload["roles"]])
        with state.lock:
            app = state.apps[state.config.client_id]
            return JSONResponse({"roles": sorted(app.roles), "delegated": sorted(app.delegated_permissions)})

    async def device_approve(request: Request) -> Response:
        payload = await request.json() if (await request.body()) else {}
        code = state.approve_device_code(payload.get("user_code"), user=payload.get("user"))
        return JSONResponse({"approved": code.user_code})

    async def device_login(request: Request) -> Response:
        pending = state.pending_device_codes()
        rows = "".join(f"<li><code>{html.escape(c.user_code)}</code></li>" for c in pending) or "<li>none</li>"
        page = (
            "<!doctype html><title>Sandbox sign-in</title><h1>M365 sandbox: device sign-in</h1>"
            f"<p>Pending codes:</p><ul>{rows}</ul>"
            f"<form method='post' action='/_sandbox/devicelogin'><label>Code <input name='user_code'></label>"
            f"<label> as <input name='user' value='{html.escape(state.config.service_account)}'></label>"
            "<button>Sign in</button></form>"
        )
        if request.method == "POST":
            form = await form_fields(request)
            code = state.approve_device_code(
                str(form.get("user_code") or "") or None, user=str(form.get("user") or "") or None
            )
            page += f"<p>Signed in for code <code>{html.escape(code.user_code)}</code>. You can close this page.</p>"
        return HTMLResponse(page)

    routes: list[tuple[str, Endpoint, list[str]]] = [
        ("/_sandbox/state", summary, ["GET"]),
        ("/_sandbox/mailboxes/folders/{folder}/messages", folder_messages, ["GET"]),
        ("/_sandbox/messages/{message}/raw", raw, ["GET"]),
        ("/_sandbox/deliver", deliver, ["POST"]),
        ("/_sandbox/seed", seed, ["POST"]),
        ("/_sandbox/outgoing", outgoing, ["GET"]),
        ("/_sandbox/faults", faults, ["GET", "PUT", "DELETE"]),
        ("/_sandbox/tokens/expire", expire_tokens, ["POST"]),
        ("/_sandbox/delta/expire", expire_delta, ["POST"]),
        ("/_sandbox/requests", requests, ["GET", "DELETE"]),
        ("/_sandbox/chats", chats, ["GET"]),
        ("/_sandbox/subscriptions", subscriptions, ["GET"]),
        ("/_sandbox/subscriptions/{subscription}/lifecycle", lifecycle, ["POST"]),
        ("/_sandbox/users", users, ["GET", "POST"]),
        ("/_sandbox/app/permissions", app_permissions, ["GET", "PUT"]),
        ("/_sandbox/device/approve", device_approve, ["POST"]),
        ("/_sandbox/devicelogin", device_login, ["GET", "POST"]),
    ]
    return [Route(path, guarded(endpoint), methods=methods) for path, endpoint, methods in routes]
