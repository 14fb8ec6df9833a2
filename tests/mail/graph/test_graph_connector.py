"""The Graph connector through the M365 sandbox with the real MSAL and httpx: reading by delta, acting through
$batch, at most once per idempotency key, throttling, token expiry, restarts and resyncs."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from emailbot.domain import Address, OutgoingMessage
from emailbot.mail.graph.actions import KEY_HEADER
from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.state import SENDING, effect_kind
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import EmailRow, ProcessingResultRow
from tests.fakes.m365 import M365Sandbox
from tests.mail.graph.conftest import graph_mailbox, sandbox_settings


def _reply(text: str = "Thanks, we are on it.") -> OutgoingMessage:
    return OutgoingMessage(to=(Address("customer@example.com", "Customer"),), subject="Re: Printer", body_text=text)


def _headers(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _key_of(sandbox: M365Sandbox, message_id: str) -> str | None:
    """The X-EmailBot-Key header of a message, as Graph reports it."""
    with sandbox.graph() as graph:
        url = f"/users/{sandbox.mailbox}/messages/{message_id}?$select=internetMessageHeaders"
        headers = graph.get(url).raise_for_status().json()["internetMessageHeaders"]
    return next((h["value"] for h in headers if h["name"].lower() == KEY_HEADER.lower()), None)


async def _stored(runtime: Runtime) -> int:
    async with runtime.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(EmailRow)) or 0)


async def test_delta_sync_hands_over_full_mime_and_resumes_after_a_restart(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    first_ids = [m365_sandbox.deliver_email(subject=f"Printer {i}", message_id=f"<p{i}@example.com>") for i in range(3)]
    runtime = build_runtime(
        sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, graph_page_size=2)
    )
    try:
        assert await runtime.engine.poll_once() == 3
        async with runtime.db.sessions() as session:
            rows = (await session.scalars(select(EmailRow).order_by(EmailRow.id))).all()
        assert sorted(row.message_id or "" for row in rows) == [
            "<p0@example.com>",
            "<p1@example.com>",
            "<p2@example.com>",
        ]
        assert {row.source_id for row in rows} == {f"{m365_sandbox.mailbox}:{i}" for i in first_ids}
        assert all(row.sender == "customer@example.com" and row.subject.startswith("Printer") for row in rows)
        assert _headers(rows[0].raw)["Message-ID"]  # the raw MIME with its headers, not a JSON rendering
        counts = m365_sandbox.state.request_counts()
        assert sum(n for route, n in counts.items() if "delta" in route) == 2  # two pages of two, then the delta link
    finally:
        await runtime.close()

    later = m365_sandbox.deliver_email(subject="Scanner", message_id="<s@example.com>")
    m365_sandbox.state.reset_request_log()
    restarted = build_runtime(
        sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, graph_page_size=2)
    )
    try:
        assert await restarted.engine.poll_once() == 1
        async with restarted.db.sessions() as session:
            newest = await session.scalar(select(EmailRow).order_by(EmailRow.id.desc()).limit(1))
        assert newest is not None
        assert newest.source_id == f"{m365_sandbox.mailbox}:{later}"
        delta_calls = sum(n for route, n in m365_sandbox.state.request_counts().items() if "delta" in route)
        assert delta_calls == 1, "resumed from the stored delta link (a full sync would page through 4 messages)"
        assert await _stored(restarted) == 4
    finally:
        await restarted.close()


async def test_a_restart_mid_sync_resumes_from_the_next_page(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    for i in range(6):
        m365_sandbox.deliver_email(subject=f"Order {i}")
    settings = sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, graph_page_size=2)
    first = build_runtime(settings)
    try:
        page = await first.mailbox.fetch_new(100)
        assert len(page) == 2
        await first.engine.ingest(page)  # stored and acknowledged; then the process stops mid-sync
    finally:
        await first.close()
    m365_sandbox.state.reset_request_log()
    second = build_runtime(settings)
    try:
        assert await second.engine.poll_once() == 4
    finally:
        await second.close()
    delta_calls = sum(n for route, n in m365_sandbox.state.request_counts().items() if "delta" in route)
    assert delta_calls == 2  # pages two and three; starting over would take three
    assert await _stored_in(settings.database_url) == 6


async def _stored_in(database_url: str) -> int:
    from emailbot.store.db import Database

    db = Database(database_url)
    try:
        async with db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(EmailRow)) or 0)
    finally:
        await db.dispose()


async def test_expired_delta_link_resyncs_without_storing_anything_twice(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    for i in range(3):
        m365_sandbox.deliver_email(subject=f"Order {i}")
    assert await graph_runtime.engine.poll_once() == 3
    m365_sandbox.state.expire_delta_tokens()
    m365_sandbox.deliver_email(subject="Order 3")
    assert await graph_runtime.engine.poll_once() == 1
    assert await _stored(graph_runtime) == 4
    assert graph_mailbox(graph_runtime).mailboxes[m365_sandbox.mailbox].resyncs == 1


async def test_reply_draft_and_marks_are_visible_in_the_mailbox(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer", message_id="<printer@example.com>")
    other_id = m365_sandbox.deliver_email(subject="Quote", message_id="<quote@example.com>")
    mailbox = graph_mailbox(graph_runtime)
    await graph_runtime.engine.poll_once()
    source, other = f"{m365_sandbox.mailbox}:{message_id}", f"{m365_sandbox.mailbox}:{other_id}"

    await mailbox.send_reply(source, _reply(), "reply:1")
    await mailbox.save_draft(other, _reply("A draft for a person to check."), "draft:2")
    await asyncio.gather(
        mailbox.mark_handled(source, "SUPPORT", flagged=False),
        mailbox.mark_handled(other, "PURCHASING", flagged=True),
    )

    state = m365_sandbox.state
    [sent] = state.sent_items()
    sent_mime = _headers(sent.raw)
    assert sent_mime["In-Reply-To"] == "<printer@example.com>"
    assert _key_of(m365_sandbox, sent.immutable_id) == "reply:1"
    assert "Thanks, we are on it." in sent_mime.get_body(("plain", "html")).get_content()
    [draft] = state.drafts()
    assert _key_of(m365_sandbox, draft.immutable_id) == "draft:2"
    replied, drafted = state.message(message_id), state.message(other_id)
    assert replied.is_read
    assert drafted.is_read
    assert replied.categories == ["EmailBot/SUPPORT"]
    assert drafted.categories == ["EmailBot/PURCHASING"]
    assert drafted.flag_status == "flagged"
    assert replied.flag_status != "flagged"


async def test_each_reply_and_draft_happens_once_per_key(graph_runtime: Runtime, m365_sandbox: M365Sandbox) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer")
    await graph_runtime.engine.poll_once()
    mailbox = graph_mailbox(graph_runtime)
    source = f"{m365_sandbox.mailbox}:{message_id}"

    first = await mailbox.send_reply(source, _reply(), "reply:7")
    assert await mailbox.send_reply(source, _reply(), "reply:7") == first  # a retry after the result was lost
    await mailbox.save_draft(source, _reply(), "draft:7")
    await mailbox.save_draft(source, _reply(), "draft:7")
    assert len(m365_sandbox.state.sent_items()) == 1
    assert len(m365_sandbox.state.drafts()) == 1


async def test_a_crash_after_graph_sent_the_reply_does_not_send_it_again(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer")
    await graph_runtime.engine.poll_once()
    mailbox = graph_mailbox(graph_runtime)
    user = mailbox.mailboxes[m365_sandbox.mailbox]
    await mailbox.send_reply(f"{m365_sandbox.mailbox}:{message_id}", _reply(), "reply:9")
    # What a crash between Graph's answer and storing it leaves behind: the marker still says "sending".
    await user.state.put(user.address, effect_kind("reply:9"), SENDING)

    restarted = build_runtime(graph_runtime.settings)
    try:
        await graph_mailbox(restarted).send_reply(f"{m365_sandbox.mailbox}:{message_id}", _reply(), "reply:9")
    finally:
        await restarted.close()
    assert len(m365_sandbox.state.sent_items()) == 1


async def test_a_gateway_timeout_on_a_reply_is_not_blindly_repeated(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer")
    await graph_runtime.engine.poll_once()
    mailbox = graph_mailbox(graph_runtime)
    source = f"{m365_sandbox.mailbox}:{message_id}"
    m365_sandbox.state.set_faults(fail_next=[504])
    with pytest.raises(GraphError) as caught:
        await mailbox.send_reply(source, _reply(), "reply:5")
    assert caught.value.ambiguous
    assert not m365_sandbox.state.sent_items()
    await mailbox.send_reply(source, _reply(), "reply:5")  # looks for a tagged reply first, finds none, sends
    await mailbox.send_reply(source, _reply(), "reply:5")
    assert len(m365_sandbox.state.sent_items()) == 1


async def test_throttling_is_retried_after_retry_after_and_requests_are_batched(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    ids = [m365_sandbox.deliver_email(subject=f"Mail {i}") for i in range(40)]
    await graph_runtime.engine.poll_once()
    mailbox = graph_mailbox(graph_runtime)
    m365_sandbox.state.reset_request_log()
    m365_sandbox.state.set_faults(fail_next=[429, 429, 503], retry_after_seconds=0)
    await asyncio.gather(*(mailbox.mark_handled(f"{m365_sandbox.mailbox}:{i}", "SUPPORT", flagged=False) for i in ids))
    assert all(m365_sandbox.state.message(i).is_read for i in ids)
    counts = m365_sandbox.state.request_counts()
    assert set(counts) == {"POST /$batch"}
    assert counts["POST /$batch"] <= 6  # 40 changes in batches of up to 20, plus the retried ones
    assert mailbox.client.max_in_flight[m365_sandbox.mailbox] <= 4


async def test_an_expired_token_is_renewed(graph_runtime: Runtime, m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.deliver_email(subject="One")
    await graph_runtime.engine.poll_once()
    m365_sandbox.state.expire_all_tokens()
    m365_sandbox.deliver_email(subject="Two")
    assert await graph_runtime.engine.poll_once() == 1


async def test_certificate_credentials(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    m365_sandbox.deliver_email(subject="One")
    runtime = build_runtime(
        sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, certificate=True)
    )
    try:
        assert runtime.settings.graph_client_secret is None
        assert await runtime.engine.poll_once() == 1
        token = await graph_mailbox(runtime).tokens.token()
        assert {"Mail.ReadWrite", "Mail.Send"} <= set(token.roles)
    finally:
        await runtime.close()


async def test_the_engine_processes_graph_mail_end_to_end(graph_runtime: Runtime, m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.deliver_email(subject="Password reset", body="Hi, I forgot my password. How can I reset it? Ann")
    m365_sandbox.deliver_email(subject="Server down!!", body="The whole production database cluster is down.")
    await graph_runtime.engine.poll_once()
    await graph_runtime.engine.drain()
    async with graph_runtime.db.sessions() as session:
        statuses = (await session.scalars(select(ProcessingResultRow.status))).all()
    assert statuses == ["completed", "completed"]
    inbox = m365_sandbox.state.messages_in("inbox")
    assert all(m.is_read and any(c.startswith("EmailBot/") for c in m.categories) for m in inbox)


async def test_two_workers_on_one_reply_in_one_process_send_it_once(
    graph_runtime: Runtime, m365_sandbox: M365Sandbox
) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer")
    await graph_runtime.engine.poll_once()
    mailbox = graph_mailbox(graph_runtime)
    source = f"{m365_sandbox.mailbox}:{message_id}"
    m365_sandbox.state.set_faults(latency_seconds=0.2)  # both calls are in flight at the same time
    results = await asyncio.gather(*(mailbox.send_reply(source, _reply(), "reply:3") for _ in range(3)))
    assert len(set(results)) == 1
    assert len(m365_sandbox.state.sent_items()) == 1


async def test_handled_mail_is_moved_after_it_is_marked(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    message_id = m365_sandbox.deliver_email(subject="Printer")
    settings = sandbox_settings(
        m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, graph_move_to="archive"
    )
    runtime = build_runtime(settings)
    try:
        await runtime.engine.poll_once()
        m365_sandbox.state.reset_request_log()
        await runtime.mailbox.mark_handled(f"{m365_sandbox.mailbox}:{message_id}", "SUPPORT", flagged=True)
        await runtime.mailbox.mark_handled(f"{m365_sandbox.mailbox}:{message_id}", "SUPPORT", flagged=True)
    finally:
        await runtime.close()
    [archived] = m365_sandbox.state.messages_in("archive")
    assert archived.immutable_id == message_id  # immutable ids survive the move
    assert archived.is_read
    assert archived.categories == ["EmailBot/SUPPORT"]
    assert archived.flag_status == "flagged"
    assert m365_sandbox.state.messages_in("inbox") == []
    calls = m365_sandbox.state.request_counts(include_batch_items=True)
    assert calls["PATCH /users/{user}/messages/{message}"] == 2
    assert calls["POST /users/{user}/messages/{message}/move"] == 2  # the repeat moves within the archive
    assert calls["POST /$batch"] == 3  # PATCH and move share one batch (dependsOn); the repeat first reads categories


async def test_noise_goes_to_its_own_folder_and_other_mail_to_the_configured_one(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    spam_id = m365_sandbox.deliver_email(subject="Winner")
    request_id = m365_sandbox.deliver_email(subject="Printer")
    settings = sandbox_settings(
        m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, graph_move_to="archive"
    )
    runtime = build_runtime(settings)
    try:
        await runtime.engine.poll_once()
        box = m365_sandbox.mailbox
        await runtime.mailbox.mark_handled(f"{box}:{spam_id}", "NOISE", flagged=False, move_to="junkemail")
        await runtime.mailbox.mark_handled(f"{box}:{request_id}", "SUPPORT", flagged=False)
    finally:
        await runtime.close()
    [junk] = m365_sandbox.state.messages_in("junkemail")
    assert (junk.immutable_id, junk.categories, junk.is_read) == (spam_id, ["EmailBot/NOISE"], True)
    assert [m.immutable_id for m in m365_sandbox.state.messages_in("archive")] == [request_id]


async def test_certificate_and_key_in_separate_files(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    combined = m365_sandbox.client_certificate_path.read_text()
    start = combined.index("-----BEGIN CERTIFICATE-----")
    key_pem, cert_pem = combined[:start], combined[start:]
    (tmp_path / "key.pem").write_text(key_pem)
    (tmp_path / "cert.pem").write_text(cert_pem)
    settings = sandbox_settings(
        m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir, certificate=True
    ).model_copy(
        update={
            "graph_client_certificate": tmp_path / "cert.pem",
            "graph_client_certificate_key": tmp_path / "key.pem",
            "graph_client_certificate_thumbprint": None,  # computed from the certificate
        }
    )
    runtime = build_runtime(settings)
    try:
        token = await graph_mailbox(runtime).tokens.token()
    finally:
        await runtime.close()
    assert "Mail.ReadWrite" in token.roles
