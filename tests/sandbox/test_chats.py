"""Teams chats on the sandbox: the app creates a group chat; posting needs a delegated token, obtained with MSAL's
device-code flow for the service account and approved through the sandbox's admin API."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.fakes.m365 import M365Sandbox

CHAT_SCOPES = [
    "https://graph.microsoft.com/ChatMessage.Send",
    "https://graph.microsoft.com/Chat.ReadWrite",
    "https://graph.microsoft.com/User.Read",
]


def _member(user: str, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": roles or ["owner"],
        "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user}')",
    }


def _device_code_token(m365_sandbox: M365Sandbox) -> dict[str, Any]:
    app = m365_sandbox.public_app()
    flow = app.initiate_device_flow(scopes=CHAT_SCOPES)
    assert flow["verification_uri"].startswith(m365_sandbox.origin)
    result: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: result.update(app.acquire_token_by_device_flow(flow)))
    waiter.start()
    # The service account signs in only once MSAL is already polling, as a person would.
    m365_sandbox.wait_for(lambda: any(c.polls for c in m365_sandbox.state.device_codes.values()), timeout=10)
    assert "access_token" not in result
    m365_sandbox.state.approve_device_code(flow["user_code"])
    waiter.join(timeout=15)
    return result


def test_app_creates_a_group_chat_with_members_and_topic(m365_sandbox: M365Sandbox) -> None:
    expert = m365_sandbox.state.add_user("it.lead@contoso.onmicrosoft.com", display_name="IT Lead").mail
    service = m365_sandbox.state.config.service_account
    with m365_sandbox.graph() as graph:
        created = graph.post(
            "/chats",
            json={
                "chatType": "group",
                "topic": "IT-ESCALATION-2026-11-24-vpn",
                "members": [_member(expert), _member(service)],
            },
        )
        chat_id = created.json()["id"]
        members = graph.get(f"/chats/{chat_id}/members")
        added = graph.post(f"/chats/{chat_id}/members", json=_member(m365_sandbox.mailbox, ["guest"]))
        duplicate = graph.post(f"/chats/{chat_id}/members", json=_member(expert))
        unknown = graph.post(
            "/chats", json={"chatType": "group", "members": [_member("ghost@contoso.onmicrosoft.com"), _member(expert)]}
        )

    assert created.status_code == 201
    assert created.json()["chatType"] == "group"
    assert created.json()["topic"] == "IT-ESCALATION-2026-11-24-vpn"
    assert chat_id.startswith("19:")
    assert [m["email"] for m in members.json()["value"]] == [expert, service]
    assert members.json()["value"][0]["@odata.type"] == "#microsoft.graph.aadUserConversationMember"
    assert added.status_code == 201
    assert duplicate.status_code == 409
    assert unknown.status_code == 404
    (chat,) = m365_sandbox.state.chat_list()
    assert [m.roles for m in chat.members] == [["owner"], ["owner"], ["guest"]]


def test_creating_a_chat_needs_a_chat_permission(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_app_permissions(["Mail.ReadWrite"])
    with m365_sandbox.graph() as graph:
        refused = graph.post(
            "/chats",
            json={
                "chatType": "group",
                "members": [_member(m365_sandbox.mailbox), _member(m365_sandbox.state.config.service_account)],
            },
        )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Forbidden"
    assert "Chat.Create" in refused.json()["error"]["message"]


def test_posting_needs_a_delegated_token_from_the_device_code_flow(m365_sandbox: M365Sandbox) -> None:
    service = m365_sandbox.state.config.service_account
    with m365_sandbox.graph() as graph:
        chat_id = graph.post(
            "/chats", json={"chatType": "group", "members": [_member(service), _member(m365_sandbox.mailbox)]}
        ).json()["id"]
        app_only = graph.post(f"/chats/{chat_id}/messages", json={"body": {"content": "from the app"}})

    result = _device_code_token(m365_sandbox)
    assert "access_token" in result, result
    with m365_sandbox.graph(result["access_token"]) as delegated:
        posted = delegated.post(
            f"/chats/{chat_id}/messages", json={"body": {"contentType": "html", "content": "<b>Escalated</b>"}}
        )
        listed = delegated.get(f"/chats/{chat_id}/messages")
        me = delegated.get("/me")

    assert app_only.status_code == 401
    assert "application-only context" in app_only.json()["error"]["message"]
    assert posted.status_code == 201
    assert posted.json()["from"]["user"]["displayName"] == "EmailBot Service Account"
    assert [m["body"]["content"] for m in listed.json()["value"]] == ["<b>Escalated</b>"]
    assert me.status_code == 200
    assert me.json()["userPrincipalName"] == service
    (chat,) = m365_sandbox.state.chat_list()
    assert [m.content for m in chat.messages] == ["<b>Escalated</b>"]


def test_refresh_tokens_renew_and_can_be_revoked(m365_sandbox: M365Sandbox) -> None:
    first = _device_code_token(m365_sandbox)
    app = m365_sandbox.public_app()

    renewed = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=CHAT_SCOPES)
    m365_sandbox.state.revoke_refresh_tokens()
    revoked = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=CHAT_SCOPES)

    assert "access_token" in renewed
    assert renewed["access_token"] != first["access_token"]
    assert revoked["error"] == "invalid_grant"


def test_a_device_code_not_yet_approved_stays_pending(m365_sandbox: M365Sandbox) -> None:
    flow = m365_sandbox.public_app().initiate_device_flow(scopes=CHAT_SCOPES)
    with httpx.Client(verify=m365_sandbox.ssl_context()) as client:
        pending = client.post(
            f"{m365_sandbox.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": m365_sandbox.client_id,
                "device_code": flow["device_code"],
            },
        )
        approved_page = client.post(
            f"{m365_sandbox.origin}/_sandbox/devicelogin", data={"user_code": flow["user_code"]}
        )
        granted = client.post(
            f"{m365_sandbox.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": m365_sandbox.client_id,
                "device_code": flow["device_code"],
            },
        )

    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    assert approved_page.status_code == 200
    assert granted.status_code == 200
    assert "ChatMessage.Send" in granted.json()["scope"]
