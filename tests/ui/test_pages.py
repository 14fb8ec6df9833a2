"""The dashboard over HTTP, without a browser: sign-in, cookies, roles, CSRF, security headers, every page renders."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from emailbot.api.app import create_app
from emailbot.auth.keys import Role, create_key, revoke_key
from emailbot.ops.alerts import Alert
from emailbot.runtime import Runtime
from emailbot.store.tables import AuditLogRow

PAGES = (
    "/ui/",
    "/ui/queue",
    "/ui/emails",
    "/ui/noise",
    "/ui/escalations",
    "/ui/patterns",
    "/ui/alerts",
    "/ui/settings",
    "/ui/learning",
    "/ui/autonomy",
    "/ui/validation",
)


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, run_engine=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _key(runtime: Runtime, role: Role) -> str:
    async with runtime.db.transaction() as session:
        return await create_key(session, f"{role.value} person", role)


async def _sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await http.get("/ui/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    return await http.post("/ui/login", data={"login_token": token.group(1), "api_key": key})


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_signed_out_browsers_go_to_the_sign_in_page(http: httpx.AsyncClient) -> None:
    for path in PAGES:
        response = await http.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login"), path
    login = await http.get("/ui/login")
    assert login.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in login.text  # scripts only from files: the policy forbids inline ones


async def test_sign_in_sets_a_strict_session_cookie_and_every_page_renders(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    signed_in = await _sign_in(http, await _key(runtime, Role.VIEWER))
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/ui/")
    cookie = next(
        value for name, value in signed_in.headers.multi_items() if name == "set-cookie" and "emailbot_session" in value
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback; behind https the cookie is Secure
    for path in PAGES:
        page = await http.get(path)
        assert page.status_code == 200, path
        assert "viewer person" in page.text
    assert "No alerts." in (await http.get("/ui/alerts")).text
    await runtime.alerts.raise_alert(Alert("warning", "Queue", "Queue size is high: <b>1204</b>"))
    page = (await http.get("/ui/alerts")).text
    assert "Queue size is high: &lt;b&gt;1204&lt;/b&gt;" in page


async def test_a_wrong_key_is_refused_and_recorded(http: httpx.AsyncClient, runtime: Runtime) -> None:
    refused = await _sign_in(http, "eb_not-a-real-key")
    assert refused.status_code == 401
    assert "not valid" in refused.text
    async with runtime.db.transaction() as session:
        revoked = await create_key(session, "gone", Role.ADMIN)
        await revoke_key(session, "gone")
    assert (await _sign_in(http, revoked)).status_code == 401
    async with runtime.db.transaction() as session:
        rows = list(await session.scalars(select(AuditLogRow).where(AuditLogRow.action == "auth.failed")))
    assert [(row.details["path"], row.details["reason"]) for row in rows] == [
        ("/ui/login", "unknown"),
        ("/ui/login", "revoked"),
    ]


async def test_roles_and_csrf_guard_every_change(http: httpx.AsyncClient, runtime: Runtime) -> None:
    await _sign_in(http, await _key(runtime, Role.VIEWER))
    token = _csrf(await http.get("/ui/settings"))
    assert (await http.post("/ui/escalations/1/resolve", data={"csrf_token": token})).status_code == 403
    assert (await http.post("/ui/settings", data={"csrf_token": token, "threshold_auto": "90"})).status_code == 403
    await _sign_in(http, await _key(runtime, Role.ADMIN))
    token = _csrf(await http.get("/ui/settings"))
    assert (await http.post("/ui/settings", data={"threshold_auto": "90"})).status_code == 403  # no token
    assert runtime.config.thresholds.auto == 85
    saved = await http.post("/ui/settings", data={"csrf_token": token, "threshold_auto": "90"})
    assert (saved.status_code, saved.headers["location"]) == (303, "/ui/settings")
    assert runtime.config.thresholds.auto == 90
    assert "Settings saved and applied." in (await http.get("/ui/settings")).text
    assert "Settings saved" not in (await http.get("/ui/settings")).text  # the message is shown once
    wrong = await http.post("/ui/settings", data={"csrf_token": token, "threshold_suggest": "95"})
    assert wrong.status_code == 422
    assert "threshold_auto &gt; threshold_suggest" in wrong.text
    rule = {"csrf_token": token, "name": "<b>vendor</b>", "domain": "vendor.example", "action": "skip", "enabled": "on"}
    assert (await http.post("/ui/rules", data=rule)).status_code == 303
    settings = (await http.get("/ui/settings")).text
    assert "&lt;b&gt;vendor&lt;/b&gt;" in settings
    assert "<b>vendor</b>" not in settings
    no_condition = await http.post("/ui/rules", data={"csrf_token": token, "name": "x", "action": "skip"})
    assert no_condition.status_code == 422
    signed_out = await http.post("/ui/logout", data={"csrf_token": token})
    assert signed_out.headers["location"] == "/ui/login"
    assert (await http.get("/ui/")).status_code == 303


async def test_learning_page_computes_the_threshold_for_a_target(http: httpx.AsyncClient, runtime: Runtime) -> None:
    await _sign_in(http, await _key(runtime, Role.VIEWER))
    page = await http.get("/ui/learning", params={"target_precision": 95})
    assert page.status_code == 200
    assert "No threshold reaches 95" in page.text
    assert (await http.get("/ui/learning", params={"target_precision": 0})).status_code == 422


async def test_an_admin_creates_a_key_seen_once_and_revokes_it(http: httpx.AsyncClient, runtime: Runtime) -> None:
    await _sign_in(http, await _key(runtime, Role.ADMIN))
    token = _csrf(await http.get("/ui/settings"))
    created = await http.post("/ui/keys", data={"csrf_token": token, "name": "Ann <night shift>", "role": "operator"})
    assert created.status_code == 200
    key = re.search(r'id="new-key">(eb_[^<]+)<', created.text)
    assert key
    settings = (await http.get("/ui/settings")).text
    assert key.group(1) not in settings
    assert "Ann &lt;night shift&gt;" in settings
    key_id = re.findall(r'action="/ui/keys/(\d+)/revoke"', settings)[-1]  # the newest key is listed last
    other = httpx.AsyncClient(transport=http._transport, base_url="http://test")  # a second browser
    assert (await _sign_in(other, key.group(1))).status_code == 303
    assert (await other.get("/ui/queue")).status_code == 200
    revoked = await http.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert (await other.get("/ui/queue")).headers["location"] == "/ui/login"  # its session ended with the key
    await other.aclose()
