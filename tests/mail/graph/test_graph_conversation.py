"""Graph's conversationId reaches the stored email, so conversations hold together where Message-IDs do not."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from emailbot.runtime import build_runtime
from emailbot.sandbox.mime import conversation_id_for
from emailbot.store.tables import EmailRow
from tests.fakes.m365 import M365Sandbox
from tests.mail.graph.conftest import sandbox_settings


async def test_delta_sync_keeps_the_conversation_id(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> None:
    m365_sandbox.deliver_email(subject="Printer", message_id="<printer@example.com>")
    runtime = build_runtime(sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir))
    try:
        assert await runtime.engine.poll_once() == 1
        await runtime.engine.drain()
        async with runtime.db.sessions() as session:
            row = await session.scalar(select(EmailRow))
    finally:
        await runtime.close()
    assert row is not None
    assert row.source_conversation_id == conversation_id_for("<printer@example.com>")
    assert row.conversation_id is not None
