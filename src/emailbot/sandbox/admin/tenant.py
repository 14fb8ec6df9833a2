"""The admin API's view of the tenant: a summary of everything, users, the app's permissions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emailbot.sandbox.admin.context import Admin


async def summary(admin: Admin, request: Request) -> Response:
    state = admin.state
    with state.lock:
        mailboxes = {
            user.mail: {
                folder.well_known_name or folder.id: sum(1 for m in user.messages.values() if m.folder_id == folder.id)
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


async def users(admin: Admin, request: Request) -> Response:
    state = admin.state
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


async def app_permissions(admin: Admin, request: Request) -> Response:
    state = admin.state
    if request.method == "PUT":
        payload = await request.json()
        state.set_app_permissions([str(p) for p in payload["roles"]])
    with state.lock:
        app = state.apps[state.config.client_id]
        return JSONResponse({"roles": sorted(app.roles), "delegated": sorted(app.delegated_permissions)})
