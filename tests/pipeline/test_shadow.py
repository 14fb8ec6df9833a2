"""Shadow mode through the real pipeline: the Maildir connector with its SMTP relay (a loopback SMTP server) and a
webhook notifier (a loopback receiver). What shadow mode must not do is asserted on the receivers and the folders,
and the same mail in live mode shows that they would have been reached."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from emailbot.api.app import create_app
from emailbot.auth.keys import Role, create_key
from emailbot.demo import DEMO_MAIL, write_demo_mail
from emailbot.runtime import Runtime, build_runtime
from tests.fakes.smtp import RecordingHandler
from tests.fakes.webhooks import Receiver, WebhookServer
from tests.runtime_fixtures import settings_for

Snapshot = dict[str, tuple[int, float]]


def _tree(root: Path) -> Snapshot:
    """Every file under `root` with its size and mtime: a move, a new flag or a new file changes it."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@asynccontextmanager
async def _runtime(
    tmp_path: Path, database_url: str, starter_model_dir: Path, smtp_port: int, hook: str, mode: str
) -> AsyncIterator[Runtime]:
    shutil.copytree(starter_model_dir, tmp_path / "models")
    target = json.dumps([{"url": hook, "kind": "slack", "name": "slack"}])
    settings = settings_for(
        tmp_path,
        database_url,
        mode=mode,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        notify_webhooks=target,
        notify_backoff_seconds=0,
    )
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


@asynccontextmanager
async def _api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, run_engine=False)
    async with runtime.db.transaction() as session:
        key = await create_key(session, "viewer", Role.VIEWER)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"X-API-Key": key}) as client:
        yield client


@pytest.fixture
def slack(webhooks: WebhookServer) -> tuple[str, Receiver]:
    return webhooks.url("/slack"), webhooks.add("/slack", "slack")


async def test_shadow_mode_sends_moves_and_notifies_nothing(
    tmp_path: Path,
    database_url: str,
    starter_model_dir: Path,
    smtp_server: tuple[RecordingHandler, int],
    slack: tuple[str, Receiver],
) -> None:
    handler, port = smtp_server
    url, receiver = slack
    async with _runtime(tmp_path, database_url, starter_model_dir, port, url, "shadow") as runtime:
        mailbox = Path(runtime.settings.local_mailbox_dir)
        write_demo_mail(mailbox)
        before = _tree(mailbox)
        assert await runtime.engine.poll_once() == len(DEMO_MAIL)
        await runtime.engine.drain()
        assert await runtime.engine.poll_once() == 0  # seen in this process, though never moved out of new/
        async with _api(runtime) as client:
            items = (await client.get("/emails", params={"page_size": 200})).json()["items"]
            auto = next(item for item in items if item["action"] == "AUTO_HANDLE")
            detail = (await client.get(f"/emails/{auto['id']}")).json()
            queue = (await client.get("/review/queue")).json()

        assert handler.received == []
        assert receiver.hits == 0
        assert _tree(mailbox) == before  # nothing moved, flagged, written to Sent or Drafts
        actions = {item["action"] for item in items}
        assert {"AUTO_HANDLE", "ESCALATE"} <= actions
        assert all(item["shadow"] and item["would_have"] == f"would have: {item['action']}" for item in items)
        assert detail["processing_result"]["would_have"] == "would have: AUTO_HANDLE"
        assert detail["response"]["text"]  # the reply it would have sent
        assert detail["response"]["sent"] is False
        assert queue["total"] == 0  # what shadow mode would have asked of people is nobody's work


async def test_the_same_mail_in_live_mode_reaches_the_receivers(
    tmp_path: Path,
    database_url: str,
    starter_model_dir: Path,
    smtp_server: tuple[RecordingHandler, int],
    slack: tuple[str, Receiver],
) -> None:
    """The control: the receivers the shadow test watches are the ones live mode reaches."""
    handler, port = smtp_server
    url, receiver = slack
    async with _runtime(tmp_path, database_url, starter_model_dir, port, url, "live") as runtime:
        mailbox = Path(runtime.settings.local_mailbox_dir)
        write_demo_mail(mailbox)
        before = _tree(mailbox)
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        assert len(handler.received) > 0
        assert len(receiver.received) > 0
        assert _tree(mailbox) != before
