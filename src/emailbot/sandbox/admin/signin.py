"""The admin API's delegated sign-in: approve a pending device code by API or on the sign-in page a person opens."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from emailbot.sandbox.admin.context import Admin
from emailbot.sandbox.entra.clients import form_fields


async def device_approve(admin: Admin, request: Request) -> Response:
    state = admin.state
    payload = await request.json() if (await request.body()) else {}
    code = state.approve_device_code(payload.get("user_code"), user=payload.get("user"))
    return JSONResponse({"approved": code.user_code})


async def device_login(admin: Admin, request: Request) -> Response:
    state = admin.state
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
