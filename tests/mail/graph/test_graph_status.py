"""Microsoft 365 health and validation through the sandbox: each common misconfiguration is one clear sentence;
the token cache shared through Redis; several mailboxes at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from emailbot.domain import Address, OutgoingMessage
from emailbot.mail.graph.auth import TokenProvider
from emailbot.ops.health import detailed_health
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import EmailRow, SyncCursorRow
from emailbot.validation import validate_configuration
from tests.fakes.m365 import M365Sandbox
from tests.mail.graph.conftest import graph_mailbox, sandbox_settings
from tests.services import REDIS_URL


@pytest.fixture
async def make_runtime(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> AsyncIterator[object]:
    built: list[Runtime] = []

    def make(**extra: object) -> Runtime:
        settings = sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, **extra)
        built.append(build_runtime(settings))
        return built[-1]

    yield make
    for runtime in built:
        await runtime.close()


async def test_a_working_setup_validates_and_reports_its_token(make_runtime, m365_sandbox: M365Sandbox) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime()
    _, results = await validate_configuration(runtime)
    assert (results["m365"].status, results["email_access"].status) == ("pass", "pass")
    _, components = await detailed_health(runtime)
    auth, client = components["m365_auth"].as_dict(), components["email_client"].as_dict()
    assert auth["status"] == "healthy"
    assert auth["token_valid"] is True
    assert {"Mail.ReadWrite", "Mail.Send"} <= set(auth["permissions"])
    assert auth["expires_at"]
    assert client["reachable"] is True
    assert client["display_name"] == m365_sandbox.state.config.mailbox_display_name


@pytest.mark.parametrize(
    ("break_it", "check", "sentence"),
    [
        (
            lambda s: s.state.set_app_permissions(["Mail.ReadWrite"]),
            "m365",
            "lacks the application permission Mail.Send",
        ),
        (
            lambda s: s.state.set_mailbox_enabled(s.mailbox, enabled=False),
            "email_access",
            "is not an Exchange Online mailbox",
        ),
        (
            lambda s: s.state.restrict_app_to_mailboxes(["someone-else@contoso.onmicrosoft.com"]),
            "email_access",
            "ApplicationAccessPolicy",
        ),
    ],
)
async def test_each_misconfiguration_is_one_sentence(
    make_runtime, m365_sandbox: M365Sandbox, break_it, check, sentence
) -> None:  # type: ignore[no-untyped-def]
    break_it(m365_sandbox)
    runtime = make_runtime()
    _, results = await validate_configuration(runtime)
    assert results[check].status == "fail"
    assert sentence in results[check].message
    assert "\n" not in results[check].message


async def test_a_wrong_secret_names_the_setting(make_runtime) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(graph_client_secret="not-the-secret")
    _, results = await validate_configuration(runtime)
    assert results["m365"].status == "fail"
    assert "AADSTS7000215" in results["m365"].message
    assert "EMAILBOT_GRAPH_CLIENT_SECRET" in results["m365"].message
    _, components = await detailed_health(runtime)
    assert components["m365_auth"].status == "unhealthy"


async def test_the_token_cache_is_shared_through_redis(make_runtime) -> None:  # type: ignore[no-untyped-def]
    first_runtime = make_runtime(redis_url=REDIS_URL)
    first: TokenProvider = graph_mailbox(first_runtime).tokens
    shared = redis.Redis.from_url(REDIS_URL)
    shared.delete(first.cache_key)
    try:
        token = await first.token()
        assert shared.get(first.cache_key)
        second: TokenProvider = graph_mailbox(make_runtime(redis_url=REDIS_URL)).tokens
        assert (await second.token()).access_token == token.access_token  # from Redis, not a second sign-in
        alone: TokenProvider = graph_mailbox(make_runtime()).tokens
        assert (await alone.token()).access_token != token.access_token
    finally:
        shared.delete(first.cache_key)
        shared.close()


async def test_several_mailboxes_each_with_its_own_cursor(make_runtime, m365_sandbox: M365Sandbox) -> None:  # type: ignore[no-untyped-def]
    other = "purchasing@contoso.onmicrosoft.com"
    m365_sandbox.state.add_user(other, display_name="Purchasing")
    m365_sandbox.deliver_email(subject="Printer broken")
    order_id = m365_sandbox.deliver_email(subject="Quote for laptops", mailbox=other)
    runtime = make_runtime(graph_mailbox=f"{m365_sandbox.mailbox},{other}")
    assert await runtime.engine.poll_once() == 2
    async with runtime.db.sessions() as session:
        sources = set(await session.scalars(select(EmailRow.source_id)))
        cursors = set(await session.scalars(select(SyncCursorRow.mailbox).where(SyncCursorRow.kind == "inbox-delta")))
    assert f"{other}:{order_id}" in sources
    assert cursors == {m365_sandbox.mailbox, other}
    reply = OutgoingMessage(to=(Address("customer@example.com"),), subject="Re: Quote", body_text="On its way.")
    await runtime.mailbox.send_reply(f"{other}:{order_id}", reply, "reply:1")
    assert len(m365_sandbox.state.sent_items(mailbox=other)) == 1
    assert m365_sandbox.state.sent_items() == []
