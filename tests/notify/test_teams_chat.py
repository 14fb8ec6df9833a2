"""Escalations as Teams group chats against the M365 sandbox: real MSAL (app and device-code tokens) and httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from emailbot.notify.teams_auth import DelegatedTokens
from emailbot.notify.teams_chat import TeamsChatNotifier
from emailbot.runtime import Runtime, build_runtime
from emailbot.sandbox.state import Chat
from emailbot.store.tables import EncryptedSecretRow, ProcessingResultRow, SideEffectRow, utcnow
from tests.api_clients import admin_client
from tests.escalations.helpers import deliver_and_process, deliveries, escalate_outage, escalations, result_of
from tests.factories import rfc822
from tests.fakes.alerts import RecordingAlertSink
from tests.fakes.m365 import M365Sandbox
from tests.fakes.webhooks import WebhookServer
from tests.runtime_fixtures import settings_for

MEMBERS = ("incident-manager@example.com", "it-manager@example.com")  # the default taxonomy's ESCALATION members
GHOST = "former-employee@example.com"
HOSTILE_SUBJECT = 'Production database is down <img src=x onerror="alert(1)"> & more'


def teams_settings(sandbox: M365Sandbox) -> dict[str, object]:
    graph = {
        key.removeprefix("EMAILBOT_").lower(): value
        for key, value in sandbox.settings.items()
        if key.startswith("EMAILBOT_GRAPH_") and key != "EMAILBOT_GRAPH_MAILBOX"
    }
    return graph | {
        "teams_chats": True,
        "teams_delegated_account": sandbox.state.config.service_account,
        "escalation_default_members": [GHOST],
        "public_url": "https://emailbot.example",
    }


async def sign_in(tokens: DelegatedTokens, sandbox: M365Sandbox) -> str:
    """`emailbot teams login` in a test: start the device flow, approve it as the administrator would."""
    shown: list[str] = []
    login = asyncio.create_task(tokens.login(shown.append, timeout=30))
    deadline = asyncio.get_running_loop().time() + 10
    while not sandbox.state.pending_device_codes():
        assert asyncio.get_running_loop().time() < deadline, "no device code was requested"
        await asyncio.sleep(0.02)
    sandbox.state.approve_device_code()
    account = await login
    assert shown
    assert "code" in shown[0].lower()
    return account


def teams_notifier(runtime: Runtime) -> TeamsChatNotifier:
    assert runtime.notifications is not None
    notifier = runtime.notifications.notifiers[0]
    assert isinstance(notifier, TeamsChatNotifier)
    return notifier


@pytest.fixture
async def teams_runtime(tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox) -> AsyncIterator[Runtime]:
    for address in MEMBERS:
        m365_sandbox.state.add_user(address)
    runtime = build_runtime(settings_for(tmp_path, database_url, **teams_settings(m365_sandbox)))
    runtime.alerts = RecordingAlertSink()
    notifier = teams_notifier(runtime)
    assert notifier.delegated is not None
    await sign_in(notifier.delegated[1], m365_sandbox)
    yield runtime
    await runtime.close()


def member_addresses(sandbox: M365Sandbox, chat: Chat) -> set[str]:
    return {sandbox.state.users[m.user_id].user_principal_name for m in chat.members}


async def test_an_escalation_becomes_one_chat_with_the_members_and_the_context(
    teams_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    escalation = await escalate_outage(teams_runtime, subject=HOSTILE_SUBJECT)
    [chat] = m365_sandbox.state.chat_list()
    assert chat.chat_type == "group"
    assert chat.topic == escalation.name
    assert chat.topic.startswith("IT-ESCALATION-")
    service_account = m365_sandbox.state.config.service_account
    assert member_addresses(m365_sandbox, chat) == {*MEMBERS, service_account}
    assert {tuple(m.roles) for m in chat.members} == {("owner",)}

    [message] = chat.messages
    assert message.content_type == "html"
    assert m365_sandbox.state.users[message.sender_user_id].user_principal_name == service_account
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more" in message.content
    assert "<img" not in message.content
    assert f'href="https://emailbot.example/ui/emails/{escalation.email_id}"' in message.content
    assert escalation.summary[:40] in message.content.replace("&#x27;", "'")
    assert "AI analysis" in message.content
    assert GHOST in message.content  # reported in the chat as not found

    [stored] = await escalations(teams_runtime)
    assert stored.chat_id == chat.id
    assert stored.chat_url is not None
    assert chat.id in stored.chat_url
    assert stored.unknown_members == [GHOST]
    assert stored.notifier == "teams_chat"
    [record] = await deliveries(teams_runtime)
    assert (record.target, record.status, record.reference) == ("teams_chat", "partial", chat.id)
    assert record.details["unknown_members"] == [GHOST]
    alerts = teams_runtime.alerts.alerts  # type: ignore[attr-defined]
    assert [a.details.get("unknown_members") for a in alerts] == [[GHOST]]


async def test_a_follow_up_is_posted_to_the_same_chat(teams_runtime: Runtime, m365_sandbox: M365Sandbox) -> None:
    await escalate_outage(teams_runtime)
    original, _ = await result_of(teams_runtime, "Production database is down")
    reply = rfc822(
        "Re: Production database is down",
        "Update from the customer: the reporting database is down too.",
        headers={"In-Reply-To": original.message_id or "", "References": original.message_id or ""},
    )
    await deliver_and_process(teams_runtime, "2.a", reply)
    [chat] = m365_sandbox.state.chat_list()
    assert len(chat.messages) == 2
    follow_up = chat.messages[-1].content
    assert "Follow-up email in this escalation" in follow_up
    assert "Re: Production database is down" in follow_up
    assert len(await escalations(teams_runtime)) == 1


async def test_the_token_cache_is_stored_encrypted_and_refreshed(
    teams_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    async with teams_runtime.db.sessions() as session:
        [row] = (await session.scalars(select(EncryptedSecretRow))).all()
    assert b"refresh_token" not in row.ciphertext.lower()
    assert b"secret" not in row.ciphertext.lower()
    before = row.ciphertext
    m365_sandbox.state.expire_all_tokens()  # the access token is refused: MSAL must use the refresh token
    tokens = teams_notifier(teams_runtime).delegated[1]  # type: ignore[index]
    token = await tokens.token(force_refresh=True)
    assert "ChatMessage.Send" in token.roles
    async with teams_runtime.db.sessions() as session:
        after = (await session.scalars(select(EncryptedSecretRow))).one().ciphertext
    assert after != before
    await escalate_outage(teams_runtime)
    assert len(m365_sandbox.state.chat_list()[0].messages) == 1


async def test_without_sign_in_nothing_is_half_done_and_the_webhook_carries_the_notice(
    tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox, webhooks: WebhookServer
) -> None:
    for address in MEMBERS:
        m365_sandbox.state.add_user(address)
    slack = webhooks.add("/slack", "slack")
    fallback = json.dumps([{"url": webhooks.url("/slack"), "kind": "slack", "name": "slack"}])
    settings = settings_for(tmp_path, database_url, **teams_settings(m365_sandbox), notify_webhooks=fallback)
    runtime = build_runtime(settings)
    runtime.alerts = RecordingAlertSink()
    try:
        await escalate_outage(runtime)
        records = {d.target: d for d in await deliveries(runtime)}
        assert records["teams_chat"].status == "failed"
        assert "emailbot teams login" in (records["teams_chat"].error or "")
        assert records["slack"].status == "delivered"
        assert len(slack.received) == 1
        assert m365_sandbox.state.chat_list() == []  # no chat the service account could never post in
        _, result = await result_of(runtime, "Production database is down")
        assert result.status == "completed"
        alerts = runtime.alerts.alerts  # type: ignore[attr-defined]
        assert "Teams chat escalation failed" in [a.message for a in alerts]
    finally:
        await runtime.close()


async def test_an_uncertain_post_is_retried_without_a_second_chat_or_message(
    teams_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    """A gateway timeout on the message post (which may or may not have arrived) fails the attempt; the retry
    finds the chat on the escalation and posts the message once."""
    # Two user lookups (the unknown member is refused before faults apply) and the chat creation pass; the message
    # post gets a 504.
    m365_sandbox.state.set_faults(fail_next=[200, 200, 200, 504])
    escalation = await escalate_outage(teams_runtime)
    [record] = await deliveries(teams_runtime)
    assert (record.status, record.http_status) == ("failed", 504)
    [chat] = m365_sandbox.state.chat_list()
    assert chat.messages == []

    async with teams_runtime.db.transaction() as session:
        await session.execute(
            update(ProcessingResultRow)
            .where(ProcessingResultRow.email_id == escalation.email_id)
            .values(next_attempt_at=utcnow())
        )
    await teams_runtime.engine.drain()
    [chat] = m365_sandbox.state.chat_list()
    assert len(chat.messages) == 1
    [record] = await deliveries(teams_runtime)
    assert record.status == "partial"  # delivered, with the unknown member reported
    _, result = await result_of(teams_runtime, "Production database is down")
    assert result.status == "completed"


async def test_workflow_mode_creates_the_chat_and_the_workflow_posts_the_card(
    tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox, webhooks: WebhookServer
) -> None:
    for address in MEMBERS:
        m365_sandbox.state.add_user(address)
    flow = webhooks.add("/workflow", "teams_workflow")
    target = json.dumps([{"url": webhooks.url("/workflow"), "kind": "teams_workflow", "name": "flow"}])
    overrides = teams_settings(m365_sandbox) | {"teams_post_as": "workflow", "notify_webhooks": target}
    runtime = build_runtime(settings_for(tmp_path, database_url, **overrides))
    runtime.alerts = RecordingAlertSink()
    try:
        escalation = await escalate_outage(runtime)
    finally:
        await runtime.close()
    [chat] = m365_sandbox.state.chat_list()
    assert member_addresses(m365_sandbox, chat) == set(MEMBERS)  # no service account in this mode
    assert chat.messages == []  # Graph does not let the app post; the flow does
    [request] = flow.received
    assert request.json["emailbot"]["chat_id"] == chat.id
    assert request.json["emailbot"]["escalation_id"] == escalation.id
    records = {d.target: d.status for d in await deliveries(runtime)}
    assert records == {"teams_chat": "partial", "flow": "delivered"}


async def test_resolving_announces_it_in_the_chat_and_to_the_webhooks(
    tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox, webhooks: WebhookServer
) -> None:
    for address in MEMBERS:
        m365_sandbox.state.add_user(address)
    receiver = webhooks.add("/generic", "generic", "s3cret")
    target = json.dumps([{"url": webhooks.url("/generic"), "kind": "generic", "name": "ops", "secret": "s3cret"}])
    runtime = build_runtime(
        settings_for(tmp_path, database_url, **teams_settings(m365_sandbox), notify_webhooks=target)
    )
    runtime.alerts = RecordingAlertSink()
    try:
        notifier = teams_notifier(runtime)
        assert notifier.delegated is not None
        await sign_in(notifier.delegated[1], m365_sandbox)
        escalation = await escalate_outage(runtime)
        async with admin_client(runtime) as client:
            answer = await client.post(
                f"/escalations/{escalation.id}/resolve", json={"notes": "Failed over <b>to</b> the replica."}
            )
        assert answer.status_code == 200
        [chat] = m365_sandbox.state.chat_list()
        assert len(chat.messages) == 2
        assert "Resolved." in chat.messages[-1].content
        assert "Failed over &lt;b&gt;to&lt;/b&gt; the replica." in chat.messages[-1].content
        events = [r.json["event"] for r in receiver.received]
        assert events == ["escalation.created", "escalation.resolved"]
        assert receiver.received[-1].json["escalation"]["resolution"] == "Failed over <b>to</b> the replica."
        async with runtime.db.sessions() as session:
            effect = await session.scalar(
                select(SideEffectRow).where(SideEffectRow.idempotency_key == f"notify:{escalation.id}:resolved")
            )
        assert effect is not None
        assert effect.status == "done"
    finally:
        await runtime.close()
